"""Crash safety: a ``runwright deploy`` killed with SIGKILL anywhere resumes to a correct end.

The runbook's four steps append their names to a log, so counting lines proves that a
completed step is never repeated. A step killed mid-way is re-run by ``resume`` only when it
is declared idempotent; otherwise ``resume`` exits 3 until a person settles it.
Kills happen two ways: from outside (``os.kill(pid, SIGKILL)`` once the step's marker file
appears) and from inside at a journal point (``RUNWRIGHT_CRASH_AT``).
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

pytestmark = pytest.mark.slow

CRASH = str(ROOT / "tests" / "fixtures" / "runbooks" / "crash.yaml")
STEPS = ("one", "two", "three", "four")
MARKER_TIMEOUT = 30.0


def counts(workdir: Path) -> dict[str, int]:
    log = workdir / "log"
    lines = log.read_text().splitlines() if log.exists() else []
    found = Counter(lines)
    return {name: found[name] for name in STEPS}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Process groups a killed step left behind; any still alive are killed at teardown."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def kill_mid_step(state_dir: Path, workdir: Path, step: str, orphans: list[int]) -> None:
    """Start a deploy, wait until ``step`` is under way, SIGKILL runwright, then the step."""
    marker = workdir / f"{step}.hung"
    proc = subprocess.Popen(
        [
            *cli_command(),
            "deploy",
            CRASH,
            "--version",
            "v1",
            "--var",
            f"dir={workdir}",
            "--var",
            f"hang_in={step}",
        ],
        env=cli_environ(state_dir),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + MARKER_TIMEOUT
        while not (marker.exists() and marker.read_text().strip()):
            assert proc.poll() is None, f"deploy ended (exit {proc.returncode}) before {step}"
            assert time.monotonic() < deadline, f"step {step} never started"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pgid = int(marker.read_text())
    orphans.append(pgid)
    assert group_alive(pgid), "the killed step's shell should have outlived runwright"
    os.killpg(pgid, signal.SIGKILL)


def test_killed_mid_way_through_a_non_idempotent_step_resume_waits_for_settlement(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, orphans: list[int]
) -> None:
    kill_mid_step(state_dir, tmp_path, "two", orphans)
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 0, "four": 0}

    blocked = run_cli("resume", "1")
    assert blocked.returncode == 3
    assert "'two' was in flight when runwright stopped and is not idempotent" in blocked.stderr
    assert "runwright settle 1" in blocked.stderr
    assert run_cli("resume", "1").returncode == 3

    settled = run_cli("settle", "1", "two", "--done")
    assert settled.returncode == 0, settled.stderr
    assert "settled as done" in settled.stdout

    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert "run 1: succeeded" in done.stderr
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 1, "four": 1}


def test_killed_mid_way_through_an_idempotent_step_resume_runs_it_again(
    run_cli: RunCli, state_dir: Path, tmp_path: Path, orphans: list[int]
) -> None:
    kill_mid_step(state_dir, tmp_path, "three", orphans)
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 1, "four": 0}

    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 2, "four": 1}
    steps = {s["name"]: s for s in json.loads(run_cli("status", "1", "--json").stdout)["steps"]}
    assert steps["three"]["status"] == "succeeded"
    assert steps["three"]["attempts"] == 2
    assert steps["two"]["attempts"] == 1


@pytest.mark.parametrize(
    ("crash_at", "before_resume"),
    [
        ("after:two", {"one": 1, "two": 1, "three": 0, "four": 0}),
        ("before:three", {"one": 1, "two": 1, "three": 0, "four": 0}),
        ("after:four", {"one": 1, "two": 1, "three": 1, "four": 1}),
        ("started:three", {"one": 1, "two": 1, "three": 0, "four": 0}),
    ],
)
def test_crash_at_a_journal_point_resumes_without_repeating_completed_steps(
    run_cli: RunCli, tmp_path: Path, crash_at: str, before_resume: dict[str, int]
) -> None:
    crashed = run_cli(
        "deploy",
        CRASH,
        "--version",
        "v1",
        "--var",
        f"dir={tmp_path}",
        env={"RUNWRIGHT_CRASH_AT": crash_at},
    )
    assert crashed.returncode == -signal.SIGKILL
    assert counts(tmp_path) == before_resume

    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 1, "four": 1}
    assert run_cli("audit", "verify", "1").returncode == 0


def test_a_non_idempotent_step_started_before_a_crash_can_be_settled_to_run_again(
    run_cli: RunCli, tmp_path: Path
) -> None:
    crashed = run_cli(
        "deploy",
        CRASH,
        "--version",
        "v1",
        "--var",
        f"dir={tmp_path}",
        env={"RUNWRIGHT_CRASH_AT": "started:two"},
    )
    assert crashed.returncode == -signal.SIGKILL

    blocked = run_cli("resume", "1")
    assert blocked.returncode == 3
    assert "awaiting_settlement" in blocked.stderr
    assert counts(tmp_path) == {"one": 1, "two": 0, "three": 0, "four": 0}

    wrong = run_cli("settle", "1", "three", "--rerun")
    assert wrong.returncode == 2
    assert "not in flight" in wrong.stderr

    assert run_cli("settle", "1", "two", "--rerun").returncode == 0
    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert counts(tmp_path) == {"one": 1, "two": 1, "three": 1, "four": 1}


def test_a_kill_as_the_run_succeeds_keeps_its_revision(run_cli: RunCli, tmp_path: Path) -> None:
    crashed = run_cli(
        "deploy", CRASH, "--version", "v1", "--var", f"dir={tmp_path}",
        env={"RUNWRIGHT_CRASH_AT": "finished"},
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL
    status = json.loads(run_cli("status", "1", "--json").stdout)
    assert (status["status"], status["revision"]) == ("succeeded", 1)
    assert run_cli("audit", "verify", "1").returncode == 0
    second = run_cli("deploy", CRASH, "--version", "v2", "--var", f"dir={tmp_path}")
    assert second.returncode == 0, second.stderr
    assert json.loads(run_cli("status", "2", "--json").stdout)["revision"] == 2
