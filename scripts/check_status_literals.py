"""Fail when a status or an event type is written as a bare string outside its module.

Statuses (runs, steps, undos, outcomes, check verdicts, settlements, deliveries) live in
``runwright.model.status`` and audit event types in ``runwright.model.event_type``; a
``"succeeded"`` or ``"run.finished"`` typed anywhere else is a copy that can drift (a renamed
state, a set that forgets a member). Every string constant in ``src/`` whose whole value is
one is reported, docstrings excepted. A word that only looks like one (the shell keyword
``done``) is kept by ending its line with ``# not a status``. Two members are ordinary words
of the code base too and are not searched for: ``error`` (a severity, a JSON key) and
``rollback`` (a runbook section, a run kind).

Usage: check_status_literals.py [PATH...]   (default: src/runwright)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from runwright.model import event_type, status  # noqa: E402

MODULES = {
    ROOT / "src" / "runwright" / "model" / "status.py",
    ROOT / "src" / "runwright" / "model" / "event_type.py",
}
MARKER = "# not a status"
KINDS = (
    status.RunStatus,
    status.StepStatus,
    status.UndoStatus,
    status.OutcomeStatus,
    status.Verdict,
    status.Settlement,
    status.DeliveryStatus,
    event_type.EventType,
)
COMMON_WORDS = frozenset({"error", "rollback"})
WORDS = frozenset(str(member) for kind in KINDS for member in kind) - COMMON_WORDS


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the constants that are docstrings (or bare string statements)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def literals(path: Path) -> Iterator[tuple[int, int, str]]:
    """(line, column, value) of each status literal in one file."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    skip = _docstrings(tree)
    for node in sorted(
        ast.walk(tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))
    ):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in WORDS
            and id(node) not in skip
            and not lines[node.lineno - 1].rstrip().endswith(MARKER)
        ):
            yield node.lineno, node.col_offset + 1, node.value


def files(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        candidates = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in candidates:
            if f.resolve() not in MODULES and "migrations" not in f.parts:
                yield f


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [ROOT / "src" / "runwright"]
    found = [(f, *hit) for f in files(paths) for hit in literals(f)]
    for f, line, col, value in found:
        print(
            f"{f}:{line}:{col}: status literal {value!r}: use runwright.model.status "
            f"or runwright.model.event_type "
            f"(or end the line with '{MARKER}' if it is another word)"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
