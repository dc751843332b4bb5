"""``import --automate`` on the five seeds: what their commands become, and what the plan shows.

The counts per seed are the ones docs/markdown.md records (commands: executable steps, of
which drafts; manual; not understood). At least half of each seed's commands become steps
runwright performs, and where a seed has a backup, migration, health check or wait, the plan
of its import shows that step kind.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from runwright.app.plans.expansion import build_plan
from runwright.model.importer import dump_yaml, import_markdown, summary
from runwright.model.lint import lint
from runwright.model.loader import build_runbook
from runwright.model.review import Decision, decide, draft_only_secrets, drafts
from runwright.model.source import parse_yaml
from runwright.steps.registry import step_kinds

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seeds"

# seed: commands read, executable (all drafts), manual, not understood (kept nowhere)
COUNTS = {
    "000": (42, 37, 5, 11),
    "001": (53, 50, 3, 7),
    "002": (116, 99, 17, 12),
    "003": (43, 40, 3, 2),
    "004": (69, 57, 12, 8),
}
# seed: step kinds its production plan must show (main steps or rollback)
KINDS = {
    "000": {"http", "run", "analysis", "restore"},
    "001": {"http", "run", "backup", "restore"},
    "002": {"http", "migrate", "run", "analysis"},
    "003": {"http", "backup", "migrate", "restore", "run", "analysis"},
    "004": {"http", "backup", "migrate", "wait", "run", "analysis"},
}


def imported(prefix: str) -> tuple[object, object]:
    path = next(SEEDS.glob(f"{prefix}_*.md"))
    result = import_markdown(path.read_text(encoding="utf-8"), str(path))
    book = build_runbook(parse_yaml(dump_yaml(result.runbook), "x.yaml"), step_kinds())
    return result, book


@pytest.mark.parametrize("prefix", sorted(COUNTS))
def test_most_commands_of_each_seed_become_steps_runwright_performs(prefix: str) -> None:
    result, book = imported(prefix)
    counts = summary(result)  # type: ignore[arg-type]
    labels = Counter(p.label for p in result.proposed)  # type: ignore[attr-defined]
    commands = sum(labels.values())
    executable = commands - labels["manual"]
    assert (commands, executable, labels["manual"]) == COUNTS[prefix][:3]
    watch = 1 if prefix in ("000", "002", "003", "004") else 0  # the draft checks' step
    assert counts["draft_steps"] == executable + watch
    assert counts["not_understood"] == COUNTS[prefix][3]
    assert executable * 2 >= commands


@pytest.mark.parametrize("prefix", sorted(KINDS))
def test_the_plan_of_each_imported_seed_shows_the_steps_its_commands_do(prefix: str) -> None:
    _, book = imported(prefix)
    env = next(e for e in book.environments if e.startswith("prod"))  # type: ignore[attr-defined]
    variables = {"version": "v1", "environment": env, "secrets": {k: "***" for k in book.secrets}}  # type: ignore[attr-defined]
    plan = build_plan(book, env, book.environments[env], "v1", variables)  # type: ignore[attr-defined,arg-type]
    shown = {s.kind for s in plan.steps} | {s.kind for s in plan.rollback}
    procedures = {s.kind for steps in book.procedures.values() for s in steps}  # type: ignore[attr-defined]
    assert KINDS[prefix] <= shown | procedures
    drafted = [s for s in plan.steps if s.lines and s.lines[0].startswith("draft (imported")]
    assert drafted


def test_lint_lists_every_draft_at_its_step() -> None:
    result, book = imported("004")
    findings = [f for f in lint(book) if f.rule == "draft-step"]  # type: ignore[arg-type]
    assert len(findings) == summary(result)["draft_steps"]  # type: ignore[arg-type]
    backup = next(f for f in findings if "backup step" in f.message)
    assert "pg_dump" in backup.message
    assert "runwright review" in backup.fix


def test_review_decisions_accept_or_keep_the_command_manual() -> None:
    result, _ = imported("004")
    runbook = result.runbook  # type: ignore[attr-defined]
    found = drafts(runbook)
    backup = next(d for d in found if "backup" in d.step)
    health = next(d for d in found if "http" in d.step)
    decide(backup, Decision.ACCEPT)
    decide(health, Decision.MANUAL)
    assert "draft" not in backup.step
    assert "original" not in backup.step
    assert backup.step["backup"]["verify"] is True
    assert health.step["manual"] is True
    assert health.step["run"].startswith("curl")
    assert len(drafts(runbook)) == len(found) - 2
    book = build_runbook(parse_yaml(dump_yaml(runbook), "x.yaml"), step_kinds())
    assert next(s for _, s in book.steps() if s.kind == "backup").draft is False


def test_an_alerting_rule_and_sustained_thresholds_become_a_check_step() -> None:
    result, book = imported("002")
    check = result.runbook["checks"]["deployment-failure"]  # type: ignore[attr-defined]
    assert check["query"] == (
        'rate(http_requests_total{status=~"5.."}[5m]) / rate(http_requests_total[5m])'
    )
    assert (check["fail_if"], check["for"], check["severity"]) == ("> 0.01", "5m", "rollback")
    assert check["draft"] is True
    watch = next(s for _, s in book.steps() if s.kind == "analysis")  # type: ignore[attr-defined]
    assert watch.draft
    assert "deployment-failure" in watch.params["checks"]
    assert "error-rate-rollback" in watch.params["checks"]  # "error rate > 1% for 5 minutes"


def test_a_secret_only_drafts_use_is_not_needed_until_a_draft_using_it_is_accepted() -> None:
    result, book = imported("004")
    assert draft_only_secrets(book) == {"DATABASE_URL"}  # type: ignore[arg-type]
    runbook = result.runbook  # type: ignore[attr-defined]
    backup = next(d for d in drafts(runbook) if "backup" in d.step)
    decide(backup, Decision.ACCEPT)
    reviewed = build_runbook(parse_yaml(dump_yaml(runbook), "x.yaml"), step_kinds())
    assert draft_only_secrets(reviewed) == set()


def test_the_imported_yaml_proposes_the_service_a_deploy_command_implies() -> None:
    result, _ = imported("002")
    text = result.yaml("002.md")  # type: ignore[attr-defined]
    block = text.split("# Proposed from step ")[1]
    assert "kubectl set image deployment/backend-green" in block
    # the block after its four lines of explanation, uncommented
    proposal = "\n".join(line[2:] for line in block.split("\n")[5:] if line.startswith("# "))
    runbook = "name: proposed\n" + proposal + "\n"
    book = build_runbook(parse_yaml(runbook, "p.yaml"), step_kinds())
    assert book.service is not None
    assert book.service.driver.kind == "kubernetes"
    assert book.release is not None
