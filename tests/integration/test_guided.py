"""``deploy --guided`` in a pseudo-terminal: a person does an imported seed by hand through
runwright, one key per manual step or checklist item, and the report names who confirmed
each. ``runwright review`` is driven the same way a person would, answer by answer."""

from __future__ import annotations

import re
from pathlib import Path

import pexpect
import pytest
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

pytestmark = pytest.mark.slow

SEED = next((ROOT / "tests" / "fixtures" / "seeds").glob("004_*.md"))
PROMPT = r"\[y\] done, confirm"


def imported(run_cli: RunCli, tmp_path: Path) -> Path:
    out = tmp_path / "runbook.yaml"
    done = run_cli("import", str(SEED), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_a_guided_run_of_an_imported_seed_takes_one_key_per_manual_step(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    runbook = imported(run_cli, tmp_path)
    env = cli_environ(state_dir)  # no DATABASE_URL: the proposed backup is a draft, by hand
    env.pop("CI")
    child = pexpect.spawn(
        cli_command()[0],
        [*cli_command()[1:], "deploy", str(runbook), "-e", "production", "--version", "v1",
         "--guided"],
        env=env, cwd=str(tmp_path), encoding="utf-8", timeout=30,
    )  # fmt: skip
    asked: list[str] = []
    while child.expect([PROMPT, pexpect.EOF]) == 0:
        asked.append(child.before.replace("\r\n", "\n").rsplit("\n\n", 1)[-1])
        child.send("y")
    child.close()
    assert child.exitstatus == 0, child.before
    manual = [q for q in asked if q.lstrip().startswith("Do this by hand")]
    items = [q for q in asked if re.match(r"\s*\[\d+\] ", q)]
    assert len(manual) + len(items) == len(asked)
    assert any("$ docker-compose exec -T db pg_dump" in q for q in manual)  # the command shown
    report = run_cli("report", "1").stdout
    rows = [r for r in report.split("\n") if "confirmed at the terminal" in r]
    assert len(rows) == len(manual)
    assert all("| alice" in r for r in rows)
    checklist = [r for r in report.split("\n") if r.startswith("| Requirements Checklist |")]
    assert len(checklist) == len(items) == 10
    assert all("| alice |" in r for r in checklist)


def test_a_guided_run_stopped_with_n_waits_and_resumes_guided(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    runbook = imported(run_cli, tmp_path)
    env = cli_environ(state_dir, DATABASE_URL="postgresql://127.0.0.1:1/none")
    env.pop("CI")
    args = ["deploy", str(runbook), "-e", "production", "--version", "v1", "--guided"]
    child = pexpect.spawn(cli_command()[0], [*cli_command()[1:], *args], env=env,
                          cwd=str(tmp_path), encoding="utf-8", timeout=30)  # fmt: skip
    declined = 0
    while child.expect([PROMPT, pexpect.EOF]) == 0:
        child.send("n")
        declined += 1
    child.close()
    assert (child.exitstatus, declined) == (3, 10)  # each item of the first checklist asked
    assert "awaiting_attestation" in run_cli("status", "1", "--json").stdout
    resume = pexpect.spawn(cli_command()[0], [*cli_command()[1:], "resume", "1", "--guided"],
                           env=env, cwd=str(tmp_path), encoding="utf-8", timeout=30)  # fmt: skip
    confirmed = 0
    while resume.expect([PROMPT, pexpect.EOF]) == 0:
        resume.send("y")
        confirmed += 1
    resume.close()
    assert resume.exitstatus == 0, resume.before
    assert confirmed == 41  # 10 checklist items, 30 drafts and manual steps, 1 check step


def test_guided_without_a_terminal_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    runbook = imported(run_cli, tmp_path)
    done = run_cli("deploy", str(runbook), "-e", "production", "--version", "v1", "--guided",
                   env={"DATABASE_URL": "postgresql://127.0.0.1:1/none"})  # fmt: skip
    assert done.returncode == 2
    assert "--guided reads one key per step from a terminal" in done.stderr


def test_review_walks_through_the_drafts_answer_by_answer(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    runbook = imported(run_cli, tmp_path)
    before = run_cli("lint", str(runbook)).stdout.count("[draft-step]")
    assert before > 3
    env = cli_environ(state_dir)
    child = pexpect.spawn(cli_command()[0], [*cli_command()[1:], "review", str(runbook)],
                          env=env, encoding="utf-8", timeout=30)  # fmt: skip
    child.expect(r"runwright proposes:")
    child.expect(r"\[a\] accept")
    child.sendline("a")
    child.expect(r"\[a\] accept")
    child.sendline("m")
    child.expect(r"\[a\] accept")
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert f"1 accepted, 1 kept manual, {before - 2} still draft" in child.before
    assert run_cli("lint", str(runbook)).stdout.count("[draft-step]") == before - 2
    done = run_cli("review", str(runbook), "--accept-all")
    assert done.returncode == 0, done.stderr
    assert run_cli("lint", str(runbook)).stdout.count("[draft-step]") == 0
