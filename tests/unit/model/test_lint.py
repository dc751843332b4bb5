"""``lint`` finds what the seeds get wrong, and leaves a sound runbook alone."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from runwright.model.lint import Finding, has_errors, lint
from runwright.model.loader import Runbook, load_runbook, load_text
from runwright.model.markdown import parse_markdown
from runwright.steps.registry import step_kinds

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ROOT / "tests" / "fixtures" / "seeds"

BASE = """
name: svc
vars: {site: /tmp/x}
environments:
  production: {approvals: {required: 1}}
rollback:
  - run: echo back
"""


def book(steps: str, extra: str = "") -> Runbook:
    text = (
        BASE
        + extra
        + "phases:\n  - name: main\n    steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "      ")
    )
    return load_text(text, "svc.yaml", step_kinds())


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def test_a_sound_runbook_has_no_findings() -> None:
    assert lint(book("- run: echo {{ site }}\n")) == []
    for example in ("hello-http.yaml", "hello-markdown.md"):
        loaded = load_runbook(ROOT / "examples" / example, step_kinds(), parse_markdown)
        assert not has_errors(lint(loaded))


def test_no_rollback_path() -> None:
    text = "name: svc\nphases:\n  - name: main\n    steps:\n      - run: echo hi\n"
    findings = lint(load_text(text, "svc.yaml", step_kinds()))
    assert "no-rollback" in rules(findings)
    assert findings[0].severity == "error"
    assert findings[0].location == "svc.yaml:1"


@pytest.mark.parametrize(
    "command",
    [
        "redis-cli FLUSHALL",
        "psql -c 'DROP TABLE users'",
        "terraform apply -auto-approve",
        "kubectl -n prod delete deployment web",
        "rm -rf /var/lib/app",
        "docker system prune -af",
    ],
)
def test_destructive_command_needs_a_gate_or_approval_right_before(command: str) -> None:
    unguarded = lint(book(f"- run: echo start\n- name: danger\n  run: {command!r}\n"))
    hit = [f for f in unguarded if f.rule == "destructive"]
    assert len(hit) == 1
    assert hit[0].severity == "error"
    assert "'danger'" in hit[0].message
    assert hit[0].line == BASE.count("\n") + 6  # the command's own line, "  run: ..."
    guarded = book(f"- approval: 1\n- name: danger\n  run: {command!r}\n")
    assert "destructive" not in rules(lint(guarded))
    gated = book(f"- gate: [backup checked]\n- name: danger\n  run: {command!r}\n")
    assert "destructive" not in rules(lint(gated))


def test_backup_never_verified() -> None:
    findings = lint(book("- name: backup db\n  run: pg_dump db > b.sql\n"))
    assert rules(findings) == ["unverified-backup"]
    verified = book(
        "- name: backup db\n  run: pg_dump db > b.sql\n"
        "- name: verify backup\n  run: pg_restore --list b.sql\n"
    )
    assert lint(verified) == []


def test_a_step_handling_a_verified_backup_is_not_an_unverified_backup() -> None:
    after = (
        "- name: backup db\n  backup: {database: 'sqlite:///x.db'}\n"
        "- name: copy the backup off-site\n  run: cp -r backups /mnt/offsite\n"
    )
    assert "unverified-backup" not in rules(lint(book(after)))
    another = after + "- name: second dump\n  run: pg_dump db > b.sql\n"
    flagged = [f for f in lint(book(another)) if f.rule == "unverified-backup"]
    assert [f.message for f in flagged] == [
        "step 'second dump' takes a backup that no later step verifies"
    ]


CANARY = """
service:
  command: app --port {{ port }}
release:
  strategy: canary
  pause: 1s
"""


def test_a_canary_nobody_judges_is_a_warning_at_its_release() -> None:
    found = [
        f for f in lint(book("- run: echo hi\n", CANARY)) if f.rule == "canary-without-analysis"
    ]
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert found[0].line == BASE.count("\n") + 4  # "release:"
    check = "  errors: {provider: command, query: 'echo 0', fail_if: '> 0'}\n"
    judged = CANARY + "  analysis: [errors]\nchecks:\n" + check
    assert "canary-without-analysis" not in rules(lint(book("- run: echo hi\n", judged)))


def test_latest_tags_and_sleep_as_readiness() -> None:
    findings = lint(
        book(
            "- name: start\n  run: |\n    docker run -d app:latest\n    sleep 10\n"
            "- name: soak\n  run: echo watching\n"
        )
    )
    assert sorted(rules(findings)) == ["latest-tag", "sleep-wait"]
    assert all(f.severity == "warning" for f in findings)


def test_secrets_in_commands() -> None:
    commands = [
        "curl -H 'Authorization: Bearer abcdef0123456789' http://x",
        "psql postgresql://app:hunter2@db/app",
        'curl -d \'{"password":"test123"}\' http://x',
        'curl -H "Authorization: Bearer $TOKEN" http://x',
        "psql -c 'select 1' {{ secrets.db_url }}",
    ]
    extra = "secrets:\n  db_url: {env: DB_URL}\n"
    findings = lint(book("".join(f"- run: {json.dumps(c)}\n" for c in commands), extra))
    assert rules(findings) == ["secret-in-command"] * 3
    assert has_errors(findings)


def test_undefined_variables_and_secrets() -> None:
    findings = lint(book("- run: echo {{ sitte }} {{ version }} {{ secrets.db }}\n"))
    assert sorted(rules(findings)) == ["undefined-secret", "undefined-variable"]
    assert "sitte" in findings[0].message or "sitte" in findings[1].message


def test_migration_without_rollback_policy() -> None:
    findings = lint(book("- run: alembic upgrade head\n"))
    assert rules(findings) == ["migration-without-rollback"]
    undoable = book("- run: alembic upgrade head\n  undo: alembic downgrade -1\n")
    assert lint(undoable) == []


def test_contradicting_thresholds() -> None:
    checks = """
checks:
  err-warning: {metric: error rate, severity: warning, fail_if: "> 5%"}
  err-critical: {metric: error rate, severity: critical, fail_if: "> 1%"}
  err-again: {metric: error rate, severity: critical, fail_if: "> 2%"}
  latency: {metric: latency, severity: rollback, fail_if: "> 2s", pass_if: "< 500ms"}
"""
    findings = [f for f in lint(book("- run: echo\n", checks)) if f.rule.startswith("contra")]
    messages = " ".join(f.message for f in findings)
    assert "inverted" in messages
    assert "same severity" in messages
    assert len(findings) == 3


def test_production_without_approval() -> None:
    text = "name: svc\nrollback: [{run: echo}]\nphases: [{name: a, steps: [{run: echo}]}]\n"
    assert lint(load_text(text, "s.yaml", step_kinds())) == []
    with_env = text + "environments: {staging: {}, production: {}}\n"
    findings = lint(load_text(with_env, "s.yaml", step_kinds()))
    assert rules(findings) == ["production-without-approval"]
    assert "production" in findings[0].message


# The destructive commands in each seed's code blocks, by class, counted by hand.
EXPECTED_DESTRUCTIVE: dict[str, dict[str, int]] = {
    "000": {
        "a script called with --force": 1,
        "rollback workflow or script": 2,
        "database restore": 2,
    },
    "001": {"terraform apply/destroy": 2, "database restore": 1},
    "002": {
        "kubectl scale to 0": 6,
        "alembic downgrade": 5,
        "redis FLUSHALL/FLUSHDB": 1,
        "database restore": 4,
        "rollback workflow or script": 1,
    },
    "003": {
        "kubectl rollout undo": 2,
        "database reset": 1,
        "kubectl scale to 0": 1,
        "database restore": 1,
    },
    "004": {"redis FLUSHALL/FLUSHDB": 1, "alembic downgrade": 1, "database restore": 2},
}


@pytest.mark.parametrize("prefix", sorted(EXPECTED_DESTRUCTIVE))
def test_seeds_destructive_commands_are_reported_at_their_own_line(prefix: str) -> None:
    path = next(SEEDS.glob(f"{prefix}_*.md"))
    findings = lint(load_runbook(path, step_kinds(), parse_markdown))
    destructive = [f for f in findings if f.rule == "destructive"]
    counts: dict[str, int] = {}
    lines = path.read_text().split("\n")
    for f in destructive:
        label, command = f.message.split("destructive command (", 1)[1].split(": '", 1)
        counts[label] = counts.get(label, 0) + 1
        assert f.location.startswith(str(path))
        assert f.line is not None
        assert command.split("'")[0].split()[0] in lines[f.line - 1], (f, lines[f.line - 1])
    assert counts == EXPECTED_DESTRUCTIVE[prefix]
    assert has_errors(findings)


def test_raw_over_outside_values_in_shell_commands() -> None:
    findings = lint(
        book(
            """
            - name: publish
              run: echo "published {{ version | raw }}"
              undo: echo {{ captured.token | raw }}
            - name: flags
              run: deploy {{ site | raw }} {{ version | raw(unsafe=true) }} {{ environment | raw }}
            - name: quoted
              run: echo {{ version }} {{ site }}
            """
        )
    )
    raw = [(f.rule, f.severity, f.line) for f in findings if f.rule.startswith("raw")]
    assert sorted(raw) == [
        ("raw-outside", "error", 12),
        ("raw-outside", "error", 12),
        ("raw-unsafe", "warning", 15),
        ("raw-var", "warning", 15),
    ]
    assert has_errors(findings)


def test_the_examples_never_use_raw() -> None:
    for path in sorted((ROOT / "examples").glob("*.[ym]*")):
        text = path.read_text()
        assert not re.search(r"\|\s*raw\b", text), path
        found = lint(load_runbook(path, step_kinds(), parse_markdown))
        assert not [f for f in found if f.rule.startswith("raw")], path
