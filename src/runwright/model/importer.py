"""``runwright import``: an existing Markdown runbook becomes a YAML runbook to review and run.

The structure is read exactly as a Markdown runbook is loaded (``runwright.model.markdown``),
so the YAML gives the same plan. On top of that the importer repairs text that was UTF-8 read
as cp1252 (``âœ…`` becomes ``✅``), turns the thresholds people wrote in tables and sentences
("Error Rate | > 1% | > 5%", "error rate > 1% for 5 minutes") into draft ``checks`` for a
person to confirm, and lists, with line numbers, everything it did not turn into a runbook
element: nothing is dropped silently.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import yaml

from runwright.model.markdown import Block, Note, clean_title, convert, scan
from runwright.model.md_alerts import alert_checks, watch_step
from runwright.model.md_automate import Proposed, automate, service_comment, with_approvals
from runwright.model.source import Positions, Source

_RUNS = re.compile(r"[^\x00-\x7f]+")
METRICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("error rate", re.compile(r"error[- ]?rates?|5xx|errors?\b", re.I)),
    ("latency", re.compile(r"latenc(?:y|ies)|response[- ]?times?|p9[59]\b|95th percentile", re.I)),
    ("cpu", re.compile(r"\bcpu\b", re.I)),
    ("memory", re.compile(r"\bmemory\b", re.I)),
    ("disk usage", re.compile(r"\bdisk usage\b", re.I)),
    ("database connections", re.compile(r"database connections|\bconnections\b", re.I)),
)
_COMPARISON = re.compile(
    r"(?P<op>>=|<=|≥|≤|>|<)\s*(?P<num>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|ms|seconds?|secs?|s|minutes?|mins?)?(?![\w.])"
    r"(?P<tail>[^,;()|]*?\bfor\s*>?\s*(?P<for>\d+)\s*(?P<for_unit>seconds?|minutes?|mins?|hours?|[smh])\b)?",
    re.I,
)
_UNITS = {"%": "%", "ms": "ms", "": ""}
_SEVERITY = (
    ("critical", re.compile(r"critical", re.I)),
    ("warning", re.compile(r"warn", re.I)),
    ("normal", re.compile(r"normal", re.I)),
    ("alert", re.compile(r"alert|alarm|threshold", re.I)),
    ("rollback", re.compile(r"roll[\s-]?back", re.I)),
)


@dataclass(frozen=True)
class Repair:
    line: int
    before: str
    after: str


@dataclass(frozen=True)
class DraftCheck:
    """A threshold found in the prose, proposed as a check for a person to confirm."""

    name: str
    line: int
    metric: str
    condition: str
    source: str


@dataclass(frozen=True)
class ImportResult:
    runbook: dict[str, Any]
    not_understood: list[Note]
    drafts: list[DraftCheck]
    repairs: list[Repair]
    positions: Positions = field(default_factory=Positions)  # where each value is in the Markdown
    text: str = ""
    proposed: list[Proposed] = field(default_factory=list)  # each command and what it became

    def source(self, file: str) -> Source:
        """The imported runbook with Markdown positions, to validate before writing YAML."""
        return Source(file=file, text=self.text, data=self.runbook, positions=self.positions)

    def yaml(self, source: str = "") -> str:
        header = (f"# Imported from {source} by `runwright import`.\n" if source else "") + (
            "# Steps marked `draft: true` are done by hand until `runwright review` accepts them;\n"
            "# confirm the draft checks (and their queries) before relying on them.\n"
        )
        return header + dump_yaml(self.runbook) + service_comment(self.proposed)


def repair_mojibake(text: str) -> tuple[str, list[Repair]]:
    """Undo UTF-8 read as cp1252 (``âœ…`` -> ``✅``), only where the round trip is valid."""

    def fix(match: re.Match[str]) -> str:
        try:
            return match.group(0).encode("cp1252").decode("utf-8")
        except UnicodeError:
            return match.group(0)

    lines, repairs = [], []
    for number, line in enumerate(text.split("\n"), 1):
        new = _RUNS.sub(fix, line)
        if new != line:
            repairs.append(Repair(number, line.strip(), new.strip()))
        lines.append(new)
    return "\n".join(lines), repairs


def _metric(text: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, pattern in METRICS:
        for match in pattern.finditer(text):
            if best is None or match.start() > best[0]:
                best = (match.start(), name)
    return best[1] if best else None


def _severity(text: str, default: str) -> str:
    for name, pattern in _SEVERITY:
        if pattern.search(text):
            return name
    return default


def _condition(match: re.Match[str]) -> tuple[str, str | None]:
    op = {"≥": ">=", "≤": "<="}.get(match["op"], match["op"])
    unit = (match["unit"] or "").lower()
    unit = _UNITS.get(unit, "s" if unit.startswith("s") else "m" if unit.startswith("m") else unit)
    mode = "fail_if" if op.startswith(">") else "pass_if"
    duration = None
    if match["for"]:
        duration = f"{match['for']}{match['for_unit'][0].lower()}"
    return f"{mode} {op} {match['num']}{unit}", duration


def find_thresholds(
    text: str, context: str, default: str
) -> list[tuple[str, str, str | None, str]]:
    """(metric, condition, for, severity) for each threshold in one line of prose."""
    found = []
    previous: str | None = None
    start = 0
    head = text.split(":")[0] if ":" in text else ""
    line_severity = _severity(head, "") if len(head) < 30 else ""
    for match in _COMPARISON.finditer(text):
        before = text[start : match.start()]
        after = text[match.end() : match.end() + 20]
        start = match.end()
        if re.match(r"\s*(of baseline|free)", after, re.I):
            continue
        metric = _metric(before) or _metric(re.split(r"[,;)]", after)[0]) or previous
        if metric is None:
            continue
        previous = metric
        condition, duration = _condition(match)
        severity = "normal" if re.match(r"\s*normal", after, re.I) else line_severity
        if re.search(r"alert at\s*$", before, re.I):
            severity = "alert"
        found.append((metric, condition, duration, severity or _severity(context, default)))
    return found


def _drafts(blocks: list[Block]) -> tuple[dict[str, dict[str, Any]], list[DraftCheck]]:
    checks: dict[str, dict[str, Any]] = {}
    drafts: list[DraftCheck] = []
    seen: dict[tuple[str, str, str | None, str], str] = {}
    taken: dict[str, int] = {}
    headings: list[str] = []

    def add(line: int, source: str, found: tuple[str, str, str | None, str]) -> None:
        metric, condition, duration, severity = found
        if found in seen:
            checks[seen[found]].setdefault("also_at", []).append(line)
            return
        base = f"{metric} {severity}".replace(" ", "-")
        name, n = base, taken.get(base, 1)
        while name in checks:  # numbered from where the last one stopped: linear in rows
            n += 1
            name = f"{base}-{n}"
        taken[base] = n
        mode, _, cond = condition.partition(" ")
        check: dict[str, Any] = {"draft": True, "line": line, "source": source[:200]}
        check.update({"metric": metric, "severity": severity, mode: cond})
        if duration:
            check["for"] = duration
        checks[name] = check
        seen[found] = name
        drafts.append(
            DraftCheck(
                name,
                line,
                metric,
                condition + (f" for {duration}" if duration else ""),
                source[:200],
            )
        )

    for block in blocks:
        if block.kind == "heading":
            headings = [*headings[: block.level - 1], block.text]
            continue
        context = " ".join(headings[-2:])
        if block.kind == "table":
            rows = [r.strip().strip("|").split("|") for r in block.text.split("\n")]
            header = [c.strip() for c in rows[0]]
            for offset, row in enumerate(rows[2:], 2):
                metric = _metric(row[0]) if row else None
                for col, cell in enumerate(row[1:], 1):
                    column = header[col] if col < len(header) else ""
                    for found in find_thresholds(
                        f"{row[0]}: {cell}" if metric else cell, context, ""
                    ):
                        severity = _severity(column, _severity(context, "watch"))
                        add(block.line + offset, "|".join(row).strip(), (*found[:3], severity))
        elif block.kind in ("paragraph", "item", "quote"):
            for number, line in enumerate(block.text.split("\n"), block.line):
                for found in find_thresholds(line, context, "watch"):
                    add(number, re.sub(r"[*_`]{2,}", "", line).strip(" -*"), found)
    return checks, drafts


def import_markdown(
    text: str, file: str, *, automate_steps: bool = True, approvals: dict[str, int] | None = None
) -> ImportResult:
    """Read a Markdown runbook into a runbook dict, draft checks and the not-understood list;
    with ``automate_steps``, its commands become draft steps runwright performs (md_automate)."""
    repaired, repairs = repair_mojibake(text)
    conversion = convert(repaired, file, automate=automate_steps)
    runbook = dict(conversion.data)
    proposed = automate(runbook, conversion.commands) if automate_steps else []
    if approvals:
        with_approvals(runbook, approvals)
    blocks = scan(repaired, file)
    checks, drafts = _drafts(blocks)
    _alert_drafts(blocks, checks, drafts)
    watch = watch_step(checks) if automate_steps and runbook.get("phases") else None
    if watch is not None:
        runbook["phases"][-1]["steps"].append(watch)
    if checks:
        runbook["checks"] = {**checks, **dict(runbook.get("checks") or {})}
    notes = []
    for note in conversion.notes:
        used = [d.name for d in drafts if note.line <= d.line <= note.end]
        if used and note.kept is None:
            note = Note(
                note.line, note.end, note.kind, note.text, "draft checks " + ", ".join(used)
            )
        notes.append(note)
    ordered = {k: runbook[k] for k in _ORDER if k in runbook}
    ordered.update({k: v for k, v in runbook.items() if k not in ordered})
    return ImportResult(ordered, notes, drafts, repairs, conversion.positions, repaired, proposed)


def _alert_drafts(
    blocks: list[Block], checks: dict[str, dict[str, Any]], drafts: list[DraftCheck]
) -> None:
    """Prometheus alerting rules in YAML blocks, as draft checks with their query."""
    for block in blocks:
        for name, check in alert_checks(block):
            unique, n = name, 2
            while unique in checks:
                unique, n = f"{name}-{n}", n + 1
            checks[unique] = check
            condition = f"fail_if {check['fail_if']}" + (
                f" for {check['for']}" if "for" in check else ""
            )
            drafts.append(
                DraftCheck(unique, check["line"], check["metric"], condition, check["source"])
            )


_ORDER = (
    "runwright",
    "name",
    "description",
    "vars",
    "secrets",
    "environments",
    "sinks",
    "service",
    "release",
    "checks",
    "phases",
    "rollback",
    "procedures",
)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter when built: the pure-Python one is slow on long runbooks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML a person can read and edit: keys in document order, commands as literal blocks.

    Each entry of a long section is dumped on its own and the pieces joined, which keeps the
    time linear in the number of entries (one dump of 20,000 checks is not)."""
    parts: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict) and len(value) > 1:
            parts.append(f"{_dump(key).split(chr(10))[0]}:\n")
            parts += [textwrap.indent(_dump({k: v}), "  ") for k, v in value.items()]
        elif isinstance(value, list) and len(value) > 1:
            parts.append(f"{_dump(key).split(chr(10))[0]}:\n")
            parts += [_dump([item]) for item in value]
        else:
            parts.append(_dump({key: value}))
    return "".join(parts)


def summary(result: ImportResult) -> dict[str, int]:
    """Counts a person checks an import against: phases, steps, gate items, drafts."""
    book = result.runbook
    steps = [s for p in book.get("phases", []) for s in p["steps"]]
    every = steps + list(book.get("rollback", []))
    for proc in book.get("procedures", {}).values():
        every += proc["steps"]
    return {
        "phases": len(book.get("phases", [])),
        "steps": len(steps),
        "rollback_steps": len(book.get("rollback", [])),
        "procedures": len(book.get("procedures", {})),
        "gate_items": sum(len(s["gate"]["items"]) for s in every if "gate" in s),
        "manual_steps": sum(1 for s in every if s.get("manual")),
        "executable_steps": sum(1 for s in every if not s.get("manual") and "gate" not in s),
        "draft_steps": sum(1 for s in every if s.get("draft")),
        "draft_checks": len(result.drafts),
        "not_understood": sum(1 for n in result.not_understood if n.kept is None),
    }


__all__ = ["DraftCheck", "ImportResult", "Repair", "clean_title", "dump_yaml", "import_markdown"]
