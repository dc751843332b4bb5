"""What a SIGKILLed runwright leaves behind: a step's process group still running, and the
environment's lock. ``resume`` and ``settle`` see the orphan (journaled with its start time)
and wait for it or stop it before anything runs again; ``abort`` stops it; a dead holder's
lock is taken over by the next deploy or broken by ``runwright unlock``, audited, while a live
holder's lock is never broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

BOOK = str(ROOT / "tests" / "fixtures" / "runbooks" / "orphans.yaml")
TIMEOUT = 30.0

pytestmark = pytest.mark.slow


def counts(workdir: Path) -> Counter[str]:
    log = workdir / "log"
    return Counter(log.read_text().splitlines() if log.exists() else [])


def group_alive(pgid: int) -> bool:
    """A process of group ``pgid`` that still runs (zombies awaiting their reaper do not)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups a test left; any still alive are killed at teardown."""
    found: list[int] = []
    yield found
    for pgid in found:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def deploy_and_kill(
    state_dir: Path, workdir: Path, step: str, nap: float, groups: list[int]
) -> int:
    """Start a deploy, SIGKILL runwright once ``step`` is under way; the step's process group
    goes on. Returns that group's id."""
    marker = workdir / f"{step}.pgid"
    args = ["--var", f"dir={workdir}", "--var", f"hang_in={step}", "--var", f"nap={nap}"]
    proc = subprocess.Popen(
        [*cli_command(), "deploy", BOOK, "--version", "v1", *args],
        env=cli_environ(state_dir),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (marker.exists() and marker.read_text().strip()):
            assert proc.poll() is None, f"deploy ended (exit {proc.returncode}) before {step}"
            assert time.monotonic() < deadline, f"step {step} never started"
            time.sleep(0.02)
        time.sleep(0.3)  # the step's process group is journaled right after it starts
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pgid = int(marker.read_text())
    groups.append(pgid)
    assert group_alive(pgid), "the step's process should outlive runwright"
    return pgid


def test_an_orphan_non_idempotent_step_is_waited_for_never_doubled(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, groups: list[int]
) -> None:
    pgid = deploy_and_kill(state_dir, tmp_path, "two", 60, groups)
    blocked = run_cli("resume", "1")
    assert blocked.returncode == 3
    assert "'two' was in flight when runwright stopped and is not idempotent" in blocked.stderr
    assert f"still running (process group {pgid}" in blocked.stderr

    hasty = run_cli("settle", "1", "two", "--rerun")
    assert hasty.returncode == 3
    assert "is still running" in hasty.stderr
    assert "--wait" in hasty.stderr

    waiting = subprocess.Popen(
        [*cli_command(), "settle", "1", "two", "--done", "--wait"],
        env=cli_environ(state_dir), cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert waiting.stderr is not None
    first = waiting.stderr.readline()
    assert f"waiting for process group {pgid}" in first
    time.sleep(0.5)
    assert waiting.poll() is None, "settle --wait returned while the step still ran"
    (tmp_path / "release").touch()
    stdout, stderr = waiting.communicate(timeout=TIMEOUT)
    assert waiting.returncode == 0, stderr
    assert f"waited for process group {pgid}" in stdout
    assert not group_alive(pgid)
    assert counts(tmp_path)["two"] == 1, "the orphan finished its effect"

    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert counts(tmp_path) == Counter({"one": 1, "two": 1, "three": 1, "four": 1})


def test_an_orphan_idempotent_step_is_stopped_before_it_runs_again(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, groups: list[int]
) -> None:
    pgid = deploy_and_kill(state_dir, tmp_path, "three", 60, groups)
    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert not group_alive(pgid), "the orphan was stopped, not left beside the re-run"
    assert counts(tmp_path) == Counter({"one": 1, "two": 1, "three": 1, "four": 1})
    events = json.loads(run_cli("logs", "1", "--json").stdout)["events"]
    orphan = [e for e in events if e["type"] == "step.orphan"]
    assert [(e["step"], e["data"]["pgid"]) for e in orphan] == [("three", pgid)]


def test_abort_of_a_crashed_run_stops_the_orphan(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, groups: list[int]
) -> None:
    pgid = deploy_and_kill(state_dir, tmp_path, "two", 60, groups)
    aborted = run_cli("abort", "1", "--reason", "changed my mind")
    assert aborted.returncode in (0, 1), aborted.stderr
    assert not group_alive(pgid), "abort left the step running behind its back"
    status = json.loads(run_cli("status", "1", "--json").stdout)
    assert status["status"] == "aborted"
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["two"]["status"] == "failed"
    assert "aborted (stopped process group" in steps["two"]["summary"]
    assert counts(tmp_path)["two"] == 0


def test_a_dead_holders_lock_is_taken_over_and_unlock_is_audited(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, groups: list[int]
) -> None:
    pgid = deploy_and_kill(state_dir, tmp_path, "three", 60, groups)
    again = run_cli("deploy", BOOK, "--version", "v2", "--var", f"dir={tmp_path / 'next'}")
    (tmp_path / "next").mkdir(exist_ok=True)
    assert "TAKEOVER" in again.stderr or again.returncode == 0, again.stderr
    assert "run 1 was abandoned (its process" in again.stderr
    assert not group_alive(pgid)
    first = json.loads(run_cli("status", "1", "--json").stdout)
    assert first["status"] == "aborted"
    events = json.loads(run_cli("logs", "1", "--json").stdout)["events"]
    broken = [e for e in events if e["type"] == "lock.broken"]
    assert [e["data"]["by"] for e in broken] == ["deploy"]
    assert run_cli("audit", "verify").returncode == 0


def test_unlock_is_refused_while_the_holder_lives_and_works_when_it_waits_for_a_person(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    book = str(ROOT / "tests" / "fixtures" / "runbooks" / "approvals.yaml")
    proc = subprocess.Popen(
        [*cli_command(), "deploy", BOOK, "--version", "v1", "--var", f"dir={tmp_path}",
         "--var", "hang_in=two", "--var", "nap=60"],
        env=cli_environ(state_dir), cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "two.pgid").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        live = run_cli("unlock", "orphans", "staging", "--note", "stuck?", "--force")
        assert live.returncode == 3
        assert "unlock refused: run 1 is driven by alice@" in live.stderr
    finally:
        proc.terminate()
        proc.wait(20)
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.killpg(int((tmp_path / "two.pgid").read_text()), signal.SIGKILL)

    waiting = run_cli("deploy", book, "-e", "production", "--version", "v1",
                      "--var", f"dir={tmp_path}")  # fmt: skip
    assert waiting.returncode == 3
    polite = run_cli("unlock", "approvals", "production", "--note", "release cancelled")
    assert polite.returncode == 3
    assert "waits for a person (awaiting_approval)" in polite.stderr
    forced = run_cli("unlock", "approvals", "production", "--note", "release cancelled", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "approvals/production unlocked" in forced.stdout
    events = json.loads(run_cli("logs", "2", "--json").stdout)["events"]
    assert [(e["type"], e["data"]["note"]) for e in events if e["type"] == "lock.broken"] == [
        ("lock.broken", "release cancelled")
    ]
    assert run_cli("deploy", book, "-e", "production", "--version", "v2",
                   "--var", f"dir={tmp_path}").returncode == 3  # fmt: skip
