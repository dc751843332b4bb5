"""``runwright import`` on the five real runbooks the product is built for.

The expected numbers were counted by hand from each document: phases are its top-level
sections with something to run (rollback, troubleshooting/emergency/maintenance/monitoring
sections and empty sections excluded); gate items are its ``- [ ]`` lines; steps are one per
commented command group in its shell blocks plus one gate per checklist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runwright.app.plans.expansion import build_plan
from runwright.model.importer import dump_yaml, import_markdown, repair_mojibake, summary
from runwright.model.loader import Runbook, build_runbook, load_text
from runwright.model.markdown import parse_markdown
from runwright.model.md_blocks import plain_text
from runwright.model.source import parse_yaml
from runwright.steps.registry import step_kinds

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seeds"


def manual_import(text: str, file: str) -> Any:
    """``import --manual``: every command a manual step, as before ``--automate``."""
    return import_markdown(text, file, automate_steps=False)


# seed: phases, main steps (gates included), gate items (all), rollback steps, procedures.
# 000 and 002: alternatives ("Option A / B", "Canary Deployment (Alternative)") are
# procedures now, with one "choose one" gate in their place (one more gate item each); in
# 001, 002 and 003 a "... (if needed)" section is a procedure, with an "if needed" gate in
# its place instead of running every time. 001 and 004: a rollback in two degrees ("Quick
# Rollback" / "Complete" or "Full Rollback") is a choice of two procedures, never a sequence.
EXPECTED = {
    "000": (4, 23, 45, 5, 10),
    "001": (4, 33, 51, 2, 10),
    "002": (6, 54, 58, 22, 7),
    "003": (3, 31, 35, 6, 5),
    "004": (3, 31, 11, 3, 14),
}
# seed: planned main and rollback steps per environment: steps under a "Staging deployment"
# heading run in staging only, those under "Production deployment" in production only (002
# also has a "Development Deployment" section: a development environment of its own); a
# rollback step whose command names one environment (`-n production`,
# rollback-production.sh) is in that environment's rollback only.
PLANNED = {
    "000": {"staging": (16, 0), "production": (16, 5)},
    "001": {"staging": (16, 2), "production": (24, 2)},
    "002": {"development": (31, 9), "staging": (30, 9), "production": (45, 22)},
    "003": {"production": (31, 6)},
    "004": {"production": (31, 3)},
}


def seed(prefix: str) -> tuple[str, str]:
    path = next(SEEDS.glob(f"{prefix}_*.md"))
    return path.read_text(encoding="utf-8"), str(path)


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in strings(v)]
    if isinstance(value, list):
        return [t for v in value for t in strings(v)]
    return [str(value)]


def validated(runbook: dict[str, Any]) -> Runbook:
    return build_runbook(parse_yaml(dump_yaml(runbook), "imported.yaml"), step_kinds())


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_each_seed_imports_validates_and_plans(prefix: str) -> None:
    text, file = seed(prefix)
    result = manual_import(text, file)
    book = validated(result.runbook)
    phases, steps, items, rollback, procedures = EXPECTED[prefix]
    counts = summary(result)
    assert (counts["phases"], counts["steps"], counts["gate_items"]) == (phases, steps, items)
    assert (counts["rollback_steps"], counts["procedures"]) == (rollback, procedures)
    assert len(book.phases) == phases
    assert len(book.steps()) == steps
    assert list(book.environments) == list(PLANNED[prefix])
    for env_name, env in book.environments.items():
        variables = {**book.vars, "version": "v1", "environment": env_name}
        plan = build_plan(book, env_name, env, "v1", variables)
        assert (len(plan.steps), len(plan.rollback)) == PLANNED[prefix][env_name]
    imported_runs = [s for _, s in book.steps() if s.kind == "run"]
    assert imported_runs
    assert all(s.manual for s in imported_runs)


def test_checklists_become_gates_named_by_their_heading() -> None:
    book = validated(manual_import(*seed("000")).runbook)
    first = book.phases[0]
    assert first.name == "Pre-Deployment Checklist"
    assert [s.name for s in first.steps] == [
        "Code Quality Checks",
        "Infrastructure Readiness",
        "Configuration Validation",
        "Team Coordination",
    ]
    assert first.steps[0].params["items"][0] == {
        "text": "All tests pass (unit, integration, end-to-end)",
        "check": None,
    }


def test_commands_are_split_at_comments_and_named_by_them() -> None:
    book = validated(manual_import(*seed("001")).runbook)
    names = [s.name for _, s in book.steps()]
    i = names.index("Backup current database")
    assert names[i : i + 4] == [
        "Backup current database",
        "Verify backup completion",
        "Check current system health",
        "Verify monitoring systems",
    ]
    health = book.steps()[i + 2][1]
    assert health.params["command"] == (
        "curl -f https://api.receiptvault.pro/health\ncurl -f https://receiptvault.pro/health"
    )
    text, file = seed("001")
    markdown_book = load_text(text, file, step_kinds(), parse_markdown)
    assert markdown_book.steps()[i][1].line == 109  # the comment's line in the document


def test_rollback_and_procedures_come_from_their_sections() -> None:
    book = validated(manual_import(*seed("002")).runbook)
    assert book.rollback[0].name == "Rollback last migration"
    assert "alembic downgrade -1" in book.rollback[0].params["command"]
    assert "Security Breach Detected" in book.procedures
    flush = book.procedures["Security Breach Detected"][1]
    assert "redis-cli FLUSHALL" in flush.params["command"]


@pytest.mark.parametrize(
    ("prefix", "metrics"),
    [
        ("000", {("error rate", "fail_if", "> 10%"), ("error rate", "fail_if", "> 5%"),
                 ("latency", "fail_if", "> 2s"), ("latency", "pass_if", "< 2s")}),
        ("001", {("error rate", "fail_if", "> 1%"), ("error rate", "fail_if", "> 5%"),
                 ("latency", "fail_if", "> 1s"), ("latency", "fail_if", "> 3s")}),
        ("002", {("error rate", "fail_if", "> 1%"), ("latency", "fail_if", "> 5s"),
                 ("latency", "fail_if", "> 2000ms")}),
    ],
)  # fmt: skip
def test_thresholds_become_draft_checks(prefix: str, metrics: set[tuple[str, str, str]]) -> None:
    text, file = seed(prefix)
    result = manual_import(text, file)
    checks = result.runbook["checks"]
    found = {
        (c["metric"], mode, c[mode]) for c in checks.values() for mode in ("fail_if", "pass_if")
        if mode in c
    }  # fmt: skip
    assert metrics <= found
    assert all(c["draft"] is True and isinstance(c["line"], int) for c in checks.values())
    lines = text.split("\n")
    for c in checks.values():
        assert c["metric"].split()[0] in lines[c["line"] - 1].lower().replace("p95", "latency") or (
            c["metric"] == "latency"
        )


def test_sustained_breach_sentence_keeps_its_duration() -> None:
    checks = manual_import(*seed("002")).runbook["checks"]
    rollback = checks["error-rate-rollback"]
    assert (rollback["fail_if"], rollback["for"], rollback["line"]) == ("> 1%", "5m", 668)
    assert checks["latency-rollback"]["for"] == "10m"


def test_misdecoded_text_is_repaired_only_where_valid() -> None:
    result = manual_import(*seed("003"))
    assert [p["name"] for p in result.runbook["phases"]][0] == "Pre-Deployment Checklist"
    assert any("≥95" in r.after and "â‰¥95" in r.before for r in result.repairs)
    text, _ = repair_mojibake("naïve café ✅ and âœ… and ðŸš€")
    assert text == "naïve café ✅ and ✅ and 🚀"
    book = validated(manual_import(*seed("004")).runbook)
    notify = book.rollback[-1].params["command"]
    assert "🔄 Rolling back" in notify


def test_environments_inferred_from_sections() -> None:
    assert list(manual_import(*seed("000")).runbook["environments"]) == [
        "staging",
        "production",
    ]
    assert list(manual_import(*seed("004")).runbook["environments"]) == ["production"]


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_nothing_is_dropped_silently(prefix: str) -> None:
    text, file = seed(prefix)
    result = manual_import(text, file)
    repaired, _ = repair_mojibake(text)
    kept = "\n".join([*strings(result.runbook), *(n.text for n in result.not_understood)])
    for n, line in enumerate(repaired.split("\n"), 1):
        stripped = re.sub(r"^([-*+]|\d+[.)])\s+(\[[ xX]\]\s+)?", "", line.strip())
        if not stripped or stripped.startswith(("#", "```", "---", "|--", "|---")):
            continue
        piece = stripped.strip("#").strip()
        assert piece in kept or plain_text(piece) in kept, f"line {n} dropped: {line!r}"
    dropped = [n for n in result.not_understood if n.kept is None]
    assert dropped
    assert all(n.line > 0 and n.text for n in dropped)
