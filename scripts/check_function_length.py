"""Report the longest functions in src/ and fail for any over 80 lines.

A function longer than a screen mixes steps that deserve names. Alembic migrations are
exempt (generated, read once). ``ALLOWED`` names functions still waiting for their split in
areas being rewritten this round; each entry is temporary and goes when its function is cut.

Usage: check_function_length.py [--top N] [PATH...]   (default: src/runwright, top 5)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 80
ALLOWED: set[str] = set()


def functions(path: Path) -> Iterator[tuple[int, str, int]]:
    """(length in lines, qualified name, first line) of every function in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[int, str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield (child.end_lineno or child.lineno) - child.lineno + 1, name, child.lineno
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    found = []
    for root in args.paths or [ROOT / "src" / "runwright"]:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            if "migrations" in path.parts:
                continue
            for length, name, line in functions(path):
                found.append((length, f"{relative(path)}:{name}", line))
    found.sort(reverse=True)
    print(f"longest functions (limit {LIMIT} lines):")
    for length, where, _ in found[: args.top]:
        print(f"  {length:4d}  {where}")
    over = [(n, w, line) for n, w, line in found if n > LIMIT and w not in ALLOWED]
    for length, where, line in over:
        path, name = where.rsplit(":", 1)
        print(f"{path}:{line}: function {name} is {length} lines (limit {LIMIT}): split it")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
