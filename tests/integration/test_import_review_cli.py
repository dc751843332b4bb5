"""``runwright import`` options and ``runwright review`` as a user runs them (in process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runwright.cli.main import cli

SMALL = """# Inventory

## Deploy

```bash
# Check health
curl -f https://inventory.example.com/health
```

## Rollback

```bash
# Previous release
./deploy.sh previous
```
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.md"
    path.write_text(SMALL)
    return path


def test_the_summary_counts_in_good_grammar(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "inventory.yaml"
    result = CliRunner().invoke(cli, ["import", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    first = result.stderr.split("\n")[0]
    assert "1 phase, 1 step (2 executable, 2 of them drafts; 0 manual), 0 gate items" in first
    assert "1 rollback step, 0 procedures" in first
    assert (
        "commands read as: 1 health check, 1 deploy (a service driver is proposed)" in result.stderr
    )
    assert "--approvals production=1" in result.stderr
    step = yaml.safe_load(out.read_text())["phases"][0]["steps"][0]
    assert step["http"]["url"] == "https://inventory.example.com/health"
    assert step["draft"] is True
    assert step["original"] == "curl -f https://inventory.example.com/health"


def test_manual_keeps_every_command_a_manual_step(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "inventory.yaml"
    result = CliRunner().invoke(cli, ["import", str(source), "--manual", "-o", str(out)])
    assert result.exit_code == 0, result.output
    step = yaml.safe_load(out.read_text())["phases"][0]["steps"][0]
    assert step == {
        "name": "Deploy: Check health",
        "run": "curl -f https://inventory.example.com/health",
        "manual": True,
    }
    assert "draft step" not in result.stderr


def test_approvals_set_the_policy_the_document_does_not_state(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "inventory.yaml"
    runner = CliRunner()
    done = runner.invoke(
        cli, ["import", str(source), "--approvals", "production=2", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    env = yaml.safe_load(out.read_text())["environments"]["production"]
    assert env["approvals"] == {"required": 2, "not_by_initiator": True}
    assert "--approvals" not in done.stderr
    lint = runner.invoke(cli, ["lint", str(out)])
    assert "production-without-approval" not in lint.output
    bad = runner.invoke(cli, ["import", str(source), "--approvals", "production"])
    assert bad.exit_code == 2
    assert "--approvals 'production' is not ENVIRONMENT=N" in bad.stderr


def test_review_edits_a_draft_in_the_editor_and_refuses_markdown(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "inventory.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(source), "-o", str(out)]).exit_code == 0
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('timeout: 60s', 'timeout: 2m'))\n"
    )
    done = runner.invoke(
        cli,
        ["review", str(out)],
        input="e\nm\n",
        env={"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""},
    )
    assert done.exit_code == 0, done.output
    assert "1 accepted, 1 kept manual, 0 still draft" in done.output
    data = yaml.safe_load(out.read_text())
    health = data["phases"][0]["steps"][0]
    assert health["http"]["until_healthy"] == {"timeout": "2m"}
    assert "draft" not in health
    assert data["rollback"][0] == {
        "name": "Rollback: Previous release",
        "run": "./deploy.sh previous",
        "manual": True,
    }
    again = runner.invoke(cli, ["review", str(out)])
    assert "no draft steps to review" in again.output
    refused = runner.invoke(cli, ["review", str(source)])
    assert refused.exit_code == 2
    assert "review reads the YAML an import wrote" in refused.stderr


def test_review_leaves_the_file_as_it_was_when_an_edit_is_invalid(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "inventory.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(source), "-o", str(out)]).exit_code == 0
    before = out.read_text()
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('timeout: 60s', 'timeout: soon'))\n"
    )
    done = runner.invoke(
        cli, ["review", str(out)], input="e\nq\n", env={"EDITOR": f"{sys.executable} {editor}"}
    )
    assert done.exit_code == 2
    assert "the reviewed runbook would be invalid, so nothing was written" in done.stderr
    assert "timeout" in done.stderr
    assert out.read_text() == before


def test_a_proposed_secret_is_needed_only_once_its_draft_is_accepted(tmp_path: Path) -> None:
    source = tmp_path / "db.md"
    source.write_text(
        "# Ledger\n\n## Deploy\n\n```bash\n# Back up\npg_dump $DATABASE_URL > b.sql\n```\n\n"
        "## Rollback\n\n```bash\n# Back\n./deploy.sh previous\n```\n"
    )
    out = tmp_path / "ledger.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(source), "-o", str(out)]).exit_code == 0
    env = {"RUNWRIGHT_STATE_DIR": str(tmp_path / "state"), "CI": "1", "DATABASE_URL": ""}
    deploy = ["deploy", str(out), "-e", "production", "--version", "v1"]
    waiting = runner.invoke(cli, deploy, env=env)
    assert waiting.exit_code == 3, waiting.output  # the draft backup waits for a person
    assert runner.invoke(cli, ["review", str(out), "--accept-all"]).exit_code == 0
    fresh = {**env, "RUNWRIGHT_STATE_DIR": str(tmp_path / "fresh")}
    refused = runner.invoke(cli, deploy, env=fresh)
    assert refused.exit_code == 2
    assert "secret 'DATABASE_URL' is not set" in refused.stderr
