"""``runwright lint``: what in a runbook is unsafe or missing, before anyone runs it.

Teams' hand-written runbooks show the same hazards again and again: ``FLUSHALL`` or ``terraform
apply`` run with nobody confirming first, backups nobody verifies, ``sleep 10`` standing in for
"wait until it is ready", ``latest`` image tags, passwords pasted into commands, thresholds that
disagree, and migrations with no way back. Each rule reads the validated ``Runbook`` (no I/O)
and returns findings with a location, a message and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from runwright.model import destructive as destructive_commands
from runwright.model.checks import AnyCheck
from runwright.model.durations import parse_duration
from runwright.model.loader import Runbook
from runwright.model.md_fences import is_watcher
from runwright.model.md_sections import CHOICE_GATE, IF_NEEDED_GATE
from runwright.model.schema import Step
from runwright.model.source import parse_yaml
from runwright.model.templating import raw_uses, variables_used

BUILTINS = {
    "vars", "version", "environment", "runbook", "run_id", "initiator", "secrets", "state_dir",
    "runbook_dir", "new_selector", "old_selector",
    "captured", "port", "new_url", "new_port", "old_url", "old_port", "service", "color",
    "services",
}  # fmt: skip
BACKUP = re.compile(r"pg_dump|mysqldump|create-db-snapshot|\bbackup\b|snapshot", re.I)
TAKES_BACKUP = re.compile(r"pg_dump|pg_basebackup|mysqldump|create-db-snapshot", re.I)
VERIFY = re.compile(r"verif|pg_restore\s+--list|describe-db-snapshots|\btest\b.*restore|ls\s", re.I)
MIGRATE = re.compile(
    r"alembic\s+upgrade|prisma\s+migrate\s+deploy|db:migrate|manage\.py\s+migrate|"
    r"flyway\s+migrate|liquibase\s+update|knex\s+migrate:latest|\bmigrate\s+up\b",
    re.I,
)
DOWNGRADE = re.compile(
    r"alembic\s+downgrade|migrate\s+(?:reset|resolve|down)|db:rollback|flyway\s+undo|"
    r"migrate:rollback|pg_restore|restore",
    re.I,
)
SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a bearer token", re.compile(r"Bearer\s+(?![$<{])[A-Za-z0-9._~+/=-]{8,}")),
    ("a password", re.compile(
        r"""["']?pass(?:word)?["']?\s*[:=]\s*["']?(?![$<{*])[^\s"',}]{3,}""", re.I
    )),
    ("credentials in a URL", re.compile(r"://[^/\s:@$]+:(?![$<{*])[^@\s/]+@")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("an API token", re.compile(
        r"\b(?:ghp_[A-Za-z0-9]{20,}|xox[abp]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9]{20,})"
    )),
)  # fmt: skip
LATEST = re.compile(r"[\w./-]+:latest\b")
SLEEP = re.compile(r"(?:^|[;&|]\s*|\n\s*)sleep\s+(\d+)")
READINESS = re.compile(
    r"ready|readiness|healthy|health|until|start|boot|\bup\b|restart|rollout|wait", re.I
)
HARD_CODED_VERSION = re.compile(r"(?<![\w.])v?\d+\.\d+\.\d+(?:-[\w.]+)?\b")
OUTSIDE = {"version", "captured", "previous_version", "secrets"}
PRODUCTION = re.compile(r"^(?:prod|production|live)$", re.I)
RANK = {"normal": 0, "watch": 1, "warning": 2, "alert": 3, "critical": 4, "rollback": 5}

Mode = Literal["fail_if", "pass_if"]


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    file: str
    line: int | None
    rule: str
    message: str
    fix: str

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "location": self.location,
            "file": self.file,
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
            "fix": self.fix,
        }


def _sequences(book: Runbook) -> Iterator[tuple[str, list[Step]]]:
    yield "the run", [s for _, s in book.steps()]
    yield "rollback", list(book.rollback)
    for name, steps in book.procedures.items():
        yield f"procedure '{name}'", steps


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _command(step: Step) -> str:
    return "\n".join(_texts(step.params)) if step.kind != "gate" else ""


class _Linter:
    def __init__(self, book: Runbook) -> None:
        self.book = book
        self.findings: list[Finding] = []

    def add(self, severity: str, line: int | None, rule: str, message: str, fix: str) -> None:
        self.findings.append(Finding(severity, self.book.file, line, rule, message, fix))

    def run(self) -> list[Finding]:
        self.rollback_path()
        self.approvals()
        for where, steps in _sequences(self.book):
            self.destructive(where, steps)
            for step in steps:
                self.step_rules(step)
                self.watchers(step)
                self.draft(where, step)
        self.version_used()
        self.backups()
        self.canary_analysis()
        self.migrations()
        self.variables()
        self.raw_values()
        self.thresholds()
        order = {"error": 0, "warning": 1, "info": 2}
        return sorted(self.findings, key=lambda f: (order[f.severity], f.line or 0))

    def rollback_path(self) -> None:
        steps = [s for _, s in self.book.steps()]
        # A release's steps undo themselves, and so does a migrate step (by its policy).
        undoable = any(s.undo_step or s.kind == "migrate" for s in steps)
        released = self.book.release is not None or bool(self.book.services)
        if not self.book.rollback and not undoable and not released:
            self.add(
                "error", 1, "no-rollback",
                "no rollback path: no step has an undo and there is no rollback section",
                "give the steps that change things an 'undo:', or add a 'rollback:' list "
                "(in Markdown: a '## Rollback' section)",
            )  # fmt: skip

    def approvals(self) -> None:
        has_step = any(s.kind == "approval" for _, s in self.book.steps())
        for name, env in self.book.environments.items():
            if PRODUCTION.search(name) and env.approvals is None and not has_step:
                self.add(
                    "error", 1, "production-without-approval",
                    f"environment '{name}' deploys with nobody but the operator approving",
                    f"add approvals: {{required: 1, not_by_initiator: true}} to "
                    f"environments.{name}, or an 'approval' step",
                )  # fmt: skip

    def destructive(self, where: str, steps: list[Step]) -> None:
        for n, step in enumerate(steps):
            if n and _confirms(steps[n - 1]):
                continue
            text = step.original or _command(step)
            for found in destructive_commands.find(text):
                at = step.line if step.original else _line_of(step, found.offset)
                self.add(
                    "error", at, "destructive",
                    f"step '{step.name}' in {where} runs a destructive command "
                    f"({found.row.label}: {found.text.strip()!r}) with no gate or approval "
                    "right before it",
                    "put an 'approval' step or a gate ('- [ ] ...' checklist) just before it",
                )  # fmt: skip

    def draft(self, where: str, step: Step) -> None:
        if not step.draft:
            return
        what = f" (a {step.kind} step, imported from {step.original.strip()[:60]!r})"
        self.add(
            "warning", step.line, "draft-step",
            f"step '{step.name}' in {where} is a draft runwright import proposed"
            f"{what if step.original else ''}: done by hand until a person reviews it",
            f"runwright review {self.book.file}: accept it, edit it, or keep it manual",
        )  # fmt: skip

    def watchers(self, step: Step) -> None:
        if step.kind != "run" or step.manual or step.timeout is not None:
            return
        if is_watcher(_command(step)):
            self.add(
                "warning", step.command_line or step.line, "watcher-without-timeout",
                f"step '{step.name}' runs a command that watches until stopped "
                "(-f, --follow, watch): the run would wait forever",
                "give the step a timeout (timeout: 5m), or wait with an http step or a check",
            )  # fmt: skip

    def version_used(self) -> None:
        if self.book.release is not None or self.book.services:
            return
        texts: list[str] = []
        for _, steps in _sequences(self.book):
            for step in steps:
                texts += list(_texts(step.params))
                if step.undo_step is not None:
                    texts += list(_texts(step.undo_step.params))
        if any("version" in variables_used(t) for t in texts if "{{" in t or "{%" in t):
            return
        hard = next(
            ((s, m) for _, steps in _sequences(self.book) for s in steps
             if (m := HARD_CODED_VERSION.search(_command(s)))),
            None,
        )  # fmt: skip
        if hard is None:
            return
        step, match = hard
        self.add(
            "warning", _line_of(step, _command(step).count("\n", 0, match.start())),
            "version-unused",
            f"no step uses {{{{ version }}}} but step '{step.name}' hard-codes "
            f"{match.group(0)!r}: `--version` would change nothing it does",
            f"write {{{{ version }}}} instead of {match.group(0)}",
        )  # fmt: skip

    def step_rules(self, step: Step) -> None:
        text = _command(step)
        for match in LATEST.finditer(text):
            self.add(
                "warning", step.line, "latest-tag",
                f"step '{step.name}' uses the image tag {match.group(0)!r}: what runs changes "
                "without the runbook changing, and a rollback may not go back",
                "pin the tag to the version, e.g. my-image:{{ version }}",
            )  # fmt: skip
        for match in SLEEP.finditer(text):
            before = text[: match.start()].strip().split("\n")[-1:]
            if READINESS.search(step.name or "") or any(READINESS.search(b) for b in before):
                self.add(
                    "warning", step.line, "sleep-wait",
                    f"step '{step.name}' waits with 'sleep {match.group(1)}' for something to be "
                    "ready: too short fails, too long wastes time",
                    "use an http step with until_healthy (or a check) that waits until it is ready",
                )  # fmt: skip
        if step.kind != "run" and step.kind != "http":
            return
        for label, pattern in SECRETS:
            if pattern.search(text):
                self.add(
                    "error", step.line, "secret-in-command",
                    f"step '{step.name}' has {label} written into it: it ends up in logs, "
                    "reports and version control",
                    "declare it under 'secrets:' and write {{ secrets.NAME }} instead",
                )  # fmt: skip

    def backups(self) -> None:
        steps = [s for _, s in self.book.steps()]
        for n, step in enumerate(steps):
            label = f"{step.name}\n{_command(step)}"
            if step.kind in ("gate", "restore", "verify_backup", "migrate", "preflight"):
                continue
            if _after_verified_backup(steps[:n]) and not (
                step.kind == "backup" or TAKES_BACKUP.search(_command(step))
            ):
                continue  # it handles the backup taken and verified before, it takes none
            if step.kind == "backup" and step.params.get("verify", True):
                continue
            if step.kind != "backup" and (not BACKUP.search(label) or VERIFY.search(label)):
                continue
            later = [f"{s.name}\n" + "\n".join(_texts(s.params)) for s in steps[n + 1 :]]
            if any(VERIFY.search(text) and BACKUP.search(text) for text in later):
                continue
            if any(s.kind == "verify_backup" for s in steps[n + 1 :]):
                continue
            self.add(
                "warning", step.line, "unverified-backup",
                f"step '{step.name}' takes a backup that no later step verifies",
                "add a step that restores it to a scratch database or checks it (e.g. "
                "pg_restore --list), so a rollback does not discover a bad backup",
            )  # fmt: skip

    def canary_analysis(self) -> None:
        release = self.book.release
        if release is None or release.strategy != "canary" or release.analysis:
            return
        self.add(
            "warning", _key_line(self.book, ("release",)), "canary-without-analysis",
            "the release is a canary with no analysis: nothing judges the canary, so a bad "
            "version is promoted to 100% as surely as a good one",
            "name checks under release.analysis (e.g. analysis: [error-rate]) and give it a "
            "pause to watch them, or use strategy: blue_green",
        )  # fmt: skip

    def migrations(self) -> None:
        down = any(DOWNGRADE.search(_command(s)) for s in self.book.rollback)
        for _, step in self.book.steps():
            if not (step.kind == "migrate" or MIGRATE.search(_command(step))):
                continue
            if step.kind == "migrate":
                if step.params.get("on_rollback") or step.undo_step is not None:
                    continue
                self.add(
                    "warning", step.line, "migration-without-rollback",
                    f"step '{step.name}' migrates the database with no rollback policy "
                    "(on_rollback)",
                    "declare on_rollback: downgrade (run the tool backwards), keep (the old "
                    "version works with the new schema) or restore (the pre-release backup)",
                )  # fmt: skip
                continue
            policy = step.params.get("rollback") or step.params.get("down")
            if step.undo_step is not None or policy or down:
                continue
            self.add(
                "warning", step.line, "migration-without-rollback",
                f"step '{step.name}' migrates the database with no rollback policy",
                "give it an undo (e.g. 'alembic downgrade -1'), add a restore step to rollback, "
                "or declare the migration forward-only",
            )  # fmt: skip

    def variables(self) -> None:
        defined = set(BUILTINS) | set(self.book.vars)
        for env in self.book.environments.values():
            defined |= set(env.vars)
        secret_ref = re.compile(r"secrets\.(\w+)|secrets\[['\"](\w+)['\"]\]")
        for _, steps in _sequences(self.book):
            for step in steps:
                texts = list(_texts(step.params))
                if step.undo_step is not None:
                    texts += list(_texts(step.undo_step.params))
                for text in texts:
                    if "{{" not in text and "{%" not in text:
                        continue
                    for name in sorted(variables_used(text) - defined):
                        self.add(
                            "error", step.line, "undefined-variable",
                            f"step '{step.name}' uses {{{{ {name} }}}}, which is not defined",
                            f"define '{name}' under vars: (or an environment's vars), "
                            f"or pass --var {name}=VALUE",
                        )  # fmt: skip
                    for match in secret_ref.finditer(text):
                        name = match.group(1) or match.group(2)
                        if name not in self.book.secrets:
                            self.add(
                                "error", step.line, "undefined-secret",
                                f"step '{step.name}' uses secrets.{name}, which is not declared",
                                f"declare it: secrets: {{{name}: {{env: {name.upper()}}}}}",
                            )  # fmt: skip

    def raw_values(self) -> None:
        """``raw`` in a shell command: refused at run time for values from outside, and an
        injection waiting to happen when opted in with ``unsafe=true``."""
        shells: list[tuple[str, int | None, str]] = []
        for _, steps in _sequences(self.book):
            for step in steps:
                for one in (step, step.undo_step):
                    if one is not None and one.kind == "run":
                        shells.append(
                            (step.name or "step", step.line, str(one.params.get("command", "")))
                        )
        if self.book.service is not None:
            shells.append(("service", None, self.book.service.command))
        for name, spec in self.book.services.items():
            shells.append((f"service {name}", None, spec.command))
        for name, line, command in shells:
            for expression, unsafe in dict.fromkeys(raw_uses(command)):
                root = expression.split(".")[0].split("[")[0]
                outside = root in OUTSIDE
                if root in BUILTINS and not outside and not unsafe:
                    continue
                if unsafe:
                    self.add(
                        "warning", line, "raw-unsafe",
                        f"'{name}' splices {{{{ {expression} | raw(unsafe=true) }}}} unquoted into "
                        "a shell command: a hostile value runs as shell code",
                        "drop '| raw' (values are shell-quoted), or keep it with a strict "
                        "version_pattern and trusted inputs only",
                    )  # fmt: skip
                elif outside:
                    self.add(
                        "error", line, "raw-outside",
                        f"'{name}' splices {{{{ {expression} | raw }}}} unquoted into a shell "
                        f"command; {expression} comes from outside the runbook, so runwright "
                        "refuses it at run time",
                        "drop '| raw': values are shell-quoted for you (several arguments "
                        "in one value: '| args')",
                    )  # fmt: skip
                else:
                    self.add(
                        "warning", line, "raw-var",
                        f"'{name}' splices {{{{ {expression} | raw }}}} unquoted into a shell "
                        f"command; if {expression} is overridden with --var, runwright refuses it",
                        "drop '| raw': values are shell-quoted for you (several arguments "
                        "in one value: '| args')",
                    )  # fmt: skip

    def thresholds(self) -> None:
        by_metric: dict[str, list[tuple[str, AnyCheck, Mode, float]]] = {}
        lines = _check_lines(self.book)
        for name, check in self.book.checks.items():
            if check.draft:
                self.add(
                    "info", lines.get(name, check.line), "draft-check",
                    f"check '{name}' is a draft read from the prose: {check.source}",
                    "confirm the threshold, add its query, and remove 'draft: true'",
                )  # fmt: skip
            modes: tuple[Mode, ...] = ("fail_if", "pass_if")
            for mode in modes:
                value = _threshold(getattr(check, mode))
                if value is not None:
                    metric = check.metric or check.query or name
                    by_metric.setdefault(metric, []).append((name, check, mode, value))
        for metric, entries in by_metric.items():
            for i, (name_a, a, mode_a, va) in enumerate(entries):
                for name_b, b, mode_b, vb in entries[i + 1 :]:
                    problem = _contradiction(a, mode_a, va, b, mode_b, vb)
                    if problem:
                        self.add(
                            "warning", b.line or a.line, "contradicting-thresholds",
                            f"{metric}: '{name_a}' ({mode_a} {getattr(a, mode_a)}) and "
                            f"'{name_b}' ({mode_b} {getattr(b, mode_b)}) {problem}",
                            "agree on one threshold per severity, stricter for warning than "
                            "for critical and rollback",
                        )  # fmt: skip


def _after_verified_backup(before: list[Step]) -> bool:
    """Whether a backup step that verifies itself (or a verify_backup step) came earlier."""
    return any(
        (s.kind == "backup" and s.params.get("verify", True)) or s.kind == "verify_backup"
        for s in before
    )


def _confirms(step: Step) -> bool:
    """A gate or approval confirms the next step, unless it only records a choice of procedure."""
    choice = (step.name or "").startswith((CHOICE_GATE, IF_NEEDED_GATE))
    return step.kind in ("gate", "approval") and not choice


def _line_of(step: Step, offset: int) -> int | None:
    """The line of a step's command ``offset`` lines into it, in the file it came from."""
    if step.kind == "run" and step.command_line is not None:
        return step.command_line + offset
    return step.line


def _key_line(book: Runbook, path: tuple[str, ...]) -> int | None:
    """The line of a top-level key path in a YAML runbook, if it can be told."""
    if not book.text or book.file.endswith((".md", ".markdown")):
        return None
    try:
        keys = parse_yaml(book.text, book.file).positions.keys
    except Exception:  # noqa: BLE001 - the runbook was loaded, so its text parses
        return None
    at = keys.get(path)
    return at[0] if at else None


def _check_lines(book: Runbook) -> dict[str, int]:
    """Where each check is in a YAML runbook (a draft's own ``line`` is its Markdown line)."""
    if not book.text or book.file.endswith((".md", ".markdown")) or not book.checks:
        return {}
    try:
        keys = parse_yaml(book.text, book.file).positions.keys
    except Exception:  # noqa: BLE001 - the runbook was loaded, so its text parses
        return {}
    return {str(p[1]): at[0] for p, at in keys.items() if len(p) == 2 and p[0] == "checks"}


def _threshold(text: Any) -> float | None:
    match = re.match(r"^\s*(>=|<=|>|<|==)\s*([\d.]+)\s*(%|[a-z]*)\s*$", str(text or ""))
    if not match:
        return None
    number, unit = float(match.group(2)), match.group(3)
    if unit == "%":
        return number / 100
    try:
        return parse_duration(f"{number}{unit}") if unit else number
    except ValueError:
        return None


def _contradiction(
    a: AnyCheck, mode_a: Mode, va: float, b: AnyCheck, mode_b: Mode, vb: float
) -> str | None:
    sev_a, sev_b = a.severity or "", b.severity or ""
    op_a = str(getattr(a, mode_a)).strip()[:1]
    op_b = str(getattr(b, mode_b)).strip()[:1]
    if mode_a == mode_b and op_a == op_b and sev_a == sev_b and va != vb:
        return "set different thresholds for the same severity"
    ranked = sev_a in RANK and sev_b in RANK and "normal" not in (sev_a, sev_b)
    same = mode_a == mode_b == "fail_if" and op_a == op_b == ">"
    if same and ranked and (RANK[sev_a] - RANK[sev_b]) * (va - vb) < 0:
        return f"are inverted: {sev_a} and {sev_b} fire in the wrong order"
    if {mode_a, mode_b} == {"fail_if", "pass_if"} and op_a in "<>" and op_b in "<>":
        fail_v, pass_v = (va, vb) if mode_a == "fail_if" else (vb, va)
        if fail_v < pass_v and "normal" not in (sev_a, sev_b):
            return "overlap: a value can pass one and fail the other"
    return None


def lint(runbook: Runbook) -> list[Finding]:
    """Every finding for ``runbook``, errors first."""
    return _Linter(runbook).run()


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
