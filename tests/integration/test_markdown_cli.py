"""The Markdown commands as a user runs them: import, lint, and a Markdown runbook deployed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runwright.cli.cmd_markdown import import_cmd, lint_cmd
from runwright.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.md"))
EXAMPLE = ROOT / "examples" / "hello-markdown.md"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runwright(
    *args: str, env: dict[str, str], check: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "runwright.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
    env.update(
        RUNWRIGHT_STATE_DIR=str(tmp_path / "state"),
        RUNWRIGHT_USER="alice",
        PYTHONPATH=str(ROOT / "src"),
        CI="1",
    )
    return env


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "site"
    yield root
    for pidfile in root.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def test_import_writes_yaml_and_reports_what_to_review(runner: CliRunner, tmp_path: Path) -> None:
    seed = next(s for s in SEEDS if s.name.startswith("002"))
    out = tmp_path / "runbook.yaml"
    result = runner.invoke(import_cmd, [str(seed), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# Imported from")
    err = result.stderr
    # canary alternative: a procedure; "if needed": a gate; health curls one step each
    assert "6 phases, 59 steps (100 executable, 100 of them drafts; 17 manual)" in err
    assert f"100 draft steps to review (done by hand until accepted): runwright review {out}" in err
    assert "--approvals production=1" in err
    assert "58 gate items" in err
    assert "rollback steps kept to the one environment their command names (13):" in err
    assert "draft checks to confirm" in err
    assert "error-rate-rollback" in err
    assert f"{seed}:668: error-rate-rollback: fail_if > 1% for 5m" in err
    assert "not understood" in err
    assert "code block (yaml)" in err
    lint = runner.invoke(lint_cmd, [str(out)])
    assert lint.exit_code == 1
    assert "draft-check" in lint.output


def test_import_repairs_and_reports_misdecoded_text(runner: CliRunner) -> None:
    seed = next(s for s in SEEDS if s.name.startswith("003"))
    result = runner.invoke(import_cmd, [str(seed)])
    assert result.exit_code == 0
    assert "name: 🚀 Deployment Process" not in result.stdout
    assert "- name: Deployment Process" in result.stdout
    assert "repaired mis-decoded text on 10 lines" in result.stderr


def test_import_of_unreadable_input_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["import", str(tmp_path / "nope.md")])
    assert missing.exit_code == 2
    assert "file not found" in missing.stderr
    binary = tmp_path / "latin1.md"
    binary.write_bytes("# Caf\xe9\n".encode("latin-1"))
    bad = runner.invoke(cli, ["import", str(binary)])
    assert bad.exit_code == 2
    assert "not UTF-8" in bad.stderr


def test_import_lists_watchers_and_example_output(runner: CliRunner) -> None:
    fixtures = ROOT / "tests" / "fixtures" / "markdown"
    watchers = runner.invoke(import_cmd, [str(fixtures / "watchers.md")])
    assert watchers.exit_code == 0
    assert "watchers that run until stopped, given a timeout (3):" in watchers.stderr
    assert "watchers.md:10: kubectl logs -f deployment/worker" in watchers.stderr
    output = runner.invoke(import_cmd, [str(fixtures / "example-output.md")])
    assert "example output kept as text, never run (4): lines 15, 19, 26, 37" in output.stderr


def test_import_refuses_what_validate_would_refuse(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "typo.md"
    source.write_text("# T\n\n## Go\n\n```sh {tiemout=5s}\necho hi\n```\n")
    out = tmp_path / "typo.yaml"
    result = runner.invoke(cli, ["import", str(source), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{source}:5:8: unknown key 'tiemout'" in result.stderr
    assert "did you mean 'timeout'" in result.stderr
    assert not out.exists()


# The destructive commands each seed's code blocks hold, counted by hand: (one of them, total).
DESTRUCTIVE = {
    "000": ("rollback-production.sh --force", 5),
    "001": ("terraform apply", 3),
    "002": ("FLUSHALL", 17),
    "003": ("prisma migrate reset", 5),
    "004": ("FLUSHDB", 4),
}


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name[:3])
def test_lint_fails_every_seed_and_names_each_destructive_command(
    runner: CliRunner, seed: Path
) -> None:
    result = runner.invoke(lint_cmd, [str(seed), "--json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert any(f["severity"] == "error" for f in findings)
    what, count = DESTRUCTIVE[seed.name[:3]]
    destructive = [f for f in findings if f["rule"] == "destructive"]
    assert len(destructive) == count
    assert any(what in f["message"] for f in destructive)
    lines = seed.read_text(encoding="utf-8", errors="replace").splitlines()
    for finding in destructive:
        assert finding["severity"] == "error"
        assert finding["file"] == str(seed)
        command = finding["message"].split(": '", 1)[1].split("'")[0]
        assert command.split()[0] in lines[finding["line"] - 1], finding  # its own line


def test_lint_passes_the_examples(runner: CliRunner) -> None:
    examples = sorted(str(p) for p in (ROOT / "examples").iterdir() if p.suffix in (".yaml", ".md"))
    result = runner.invoke(lint_cmd, examples)
    assert result.exit_code == 0, result.output
    assert f"{len(examples)} file(s): 0 error(s)" in result.stderr


def test_lint_of_an_invalid_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nphases: [{name: a, steps: [{rnu: echo}]}]\n")
    result = runner.invoke(lint_cmd, [str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2" in result.stderr
    assert "did you mean 'run'" in result.stderr


@pytest.mark.slow
def test_markdown_runbook_deploys_end_to_end(cli_env: dict[str, str], site: Path) -> None:
    port = free_port()
    args = ["--var", f"port={port}", "--var", f"site={site}"]
    result = runwright(
        "deploy", str(EXAMPLE), "-e", "staging", "--version", "v7", *args, env=cli_env
    )
    assert result.returncode == 0, result.stderr
    assert "run 1: succeeded" in result.stderr
    assert json.loads((site / "staging" / "health.json").read_text())["version"] == "v7"
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health.json", timeout=5) as response:
        assert json.loads(response.read())["version"] == "v7"
    status = runwright("status", "1", "--json", env=cli_env, check=True)
    steps = json.loads(status.stdout)["steps"]
    gate = next(s for s in steps if s["name"] == "Release checklist")
    assert gate["status"] == "succeeded"


@pytest.mark.slow
def test_markdown_plan_equals_the_plan_of_its_yaml_import(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    imported = tmp_path / "hello.yaml"
    result = CliRunner().invoke(import_cmd, [str(EXAMPLE), "-o", str(imported)])
    assert result.exit_code == 0
    for env in ("staging", "production"):
        plans = [
            runwright(
                "plan", str(f), "-e", env, "--version", "v1", "--json", env=cli_env, check=True
            )
            for f in (EXAMPLE, imported)
        ]
        md, yml = (json.loads(p.stdout) for p in plans)
        assert md == yml
        assert [s["kind"] for s in md["steps"]][-4:] == ["run", "run", "http", "gate"]


def test_commands_register_on_a_click_group(runner: CliRunner) -> None:
    group = click.Group(commands={"import": import_cmd, "lint": lint_cmd})
    result = runner.invoke(group, ["lint", "--help"])
    assert result.exit_code == 0
    assert "Exit 1 when any finding is an error" in result.output
