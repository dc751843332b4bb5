"""A refused command writes no event: of two ``resume`` commands racing for a run whose driver
died, one takes the run over and the other is refused (exit 3, locked) without journaling a
``run.resumed`` event or printing a takeover that did not happen.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

BOOK = """
name: race
phases:
  - name: all
    steps:
      - name: first
        run: echo first >> {dir}/log
      - name: slow
        idempotent: true
        run: sleep 6 && echo slow >> {dir}/log
"""


@pytest.mark.slow
def test_two_concurrent_resumes_leave_exactly_one_resumed_event(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    book = tmp_path / "race.yaml"
    book.write_text(BOOK.format(dir=tmp_path))
    crashed = run_cli("deploy", str(book), "--version", "v1",
                      env={"RUNWRIGHT_CRASH_AT": "before:slow"})  # fmt: skip
    assert crashed.returncode < 0 or crashed.returncode == 137, crashed.stderr

    racers = [
        subprocess.Popen(
            [*cli_command(), "resume", "1"],
            env=cli_environ(state_dir),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in racers]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 3], results
    refused = next(out + err for code, out, err in results if code == 3)
    assert "is being driven by" in refused
    assert "TAKEOVER" not in refused
    assert "taking run 1 over" not in refused
    winner = next(out + err for code, out, err in results if code == 0)
    assert "TAKEOVER" in winner

    events = json.loads(run_cli("logs", "1", "--json").stdout)["events"]
    assert [e["type"] for e in events].count("run.resumed") == 1
    assert (tmp_path / "log").read_text() == "first\nslow\n"
