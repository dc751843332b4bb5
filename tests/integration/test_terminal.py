"""The terminal is a window on a run: closing it or pressing Ctrl-C once never stops a run.

Real ``runwright deploy`` processes, real pipes, real signals. A reader that goes away
(``| head -3``) turns the live view off and the run goes on to its end with its journal,
report, lock and exit code as if nobody had looked. The first Ctrl-C only warns; the second
aborts the run cleanly: journaled, the step in flight stopped, completed steps undone.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

pytestmark = pytest.mark.slow

STEPS = """
name: piped
phases:
  - name: main
    steps:
      - name: one
        run: for i in $(seq 1 50); do echo line $i; done; echo one >> {dir}/effects
        undo: echo undo-one >> {dir}/effects
      - name: wait for go
        run: |
          echo waiting
          while [ ! -f {dir}/go ]; do sleep 0.05; done
          for i in $(seq 1 50); do echo more $i; done
          echo two >> {dir}/effects
      - name: three
        run: {last}
"""


def write_book(tmp_path: Path, last: str = "echo three >> {dir}/effects") -> Path:
    book = tmp_path / "piped.yaml"
    book.write_text(STEPS.format(dir=tmp_path, last=last.format(dir=tmp_path)))
    return book


def start(state_dir: Path, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*cli_command(), *args],
        env=cli_environ(state_dir),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        **popen,  # type: ignore[call-overload]
    )


def read_until(pipe: IO[bytes] | None, needle: bytes, timeout: float = 60) -> bytes:
    """Read ``pipe`` until ``needle`` shows (or fail after ``timeout``)."""
    assert pipe is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never came; got {seen[-500:]!r}"
        ready, _, _ = select.select([pipe], [], [], left)
        if ready:
            chunk = os.read(pipe.fileno(), 65536)
            assert chunk, f"pipe closed before {needle!r}; got {seen[-500:]!r}"
            seen += chunk
    return seen


def effects(tmp_path: Path) -> list[str]:
    path = tmp_path / "effects"
    return path.read_text().split() if path.exists() else []


def test_a_closed_pipe_turns_the_view_off_and_the_run_goes_on(
    tmp_path: Path, state_dir: Path, run_cli: RunCli
) -> None:
    book = write_book(tmp_path)
    proc = start(state_dir, "deploy", str(book), "--version", "v1",
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.stdout is not None
    read_until(proc.stdout, b"line 3")
    proc.stdout.close()  # what `| head -3` does after its third line
    (tmp_path / "go").touch()
    assert proc.wait(timeout=120) == 0
    assert effects(tmp_path) == ["one", "two", "three"]
    status = run_cli("status", "1")
    assert "piped v1 -> default: succeeded" in status.stdout
    assert "Broken pipe" not in status.stdout
    log = run_cli("logs", "1").stdout
    assert "more 50" in log  # the journal kept every line nobody was reading
    assert "run.finished" in log
    again = run_cli("deploy", str(book), "--version", "v2")
    assert again.returncode == 0, again.stderr  # the lock was released


def test_a_failing_run_behind_a_closed_pipe_still_rolls_back_and_exits_1(
    tmp_path: Path, state_dir: Path, run_cli: RunCli
) -> None:
    book = write_book(tmp_path, last="echo boom; exit 7")
    proc = start(state_dir, "deploy", str(book), "--version", "v1",
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.stdout is not None
    read_until(proc.stdout, b"line 3")
    proc.stdout.close()
    (tmp_path / "go").touch()
    assert proc.wait(timeout=120) == 1
    assert effects(tmp_path) == ["one", "two", "undo-one"]
    assert "rolled_back" in run_cli("status", "1").stdout


def test_json_to_a_closed_stdout_keeps_the_exit_code_of_the_run(
    tmp_path: Path, state_dir: Path
) -> None:
    book = write_book(tmp_path, last="exit 7")
    (tmp_path / "go").touch()
    proc = start(state_dir, "deploy", str(book), "--version", "v1", "--json",
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # `--json | true`: nobody reads the summary
    assert proc.wait(timeout=120) == 1
    assert effects(tmp_path) == ["one", "two", "undo-one"]


@pytest.fixture
def waiting(tmp_path: Path, state_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A deploy blocked in its second step, after the first Ctrl-C has been answered."""
    book = write_book(tmp_path)
    proc = start(state_dir, "deploy", str(book), "--version", "v1",
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    read_until(proc.stderr, b"| waiting")
    proc.send_signal(signal.SIGINT)
    read_until(proc.stderr, b"press Ctrl-C again to abort it")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()


def test_one_ctrl_c_only_warns_and_the_run_finishes(
    waiting: subprocess.Popen[bytes], tmp_path: Path, run_cli: RunCli
) -> None:
    (tmp_path / "go").touch()
    assert waiting.wait(timeout=120) == 0
    assert effects(tmp_path) == ["one", "two", "three"]
    assert "succeeded" in run_cli("status", "1").stdout


def test_a_second_ctrl_c_aborts_cleanly_and_rolls_back(
    waiting: subprocess.Popen[bytes], tmp_path: Path, run_cli: RunCli
) -> None:
    waiting.send_signal(signal.SIGINT)
    read_until(waiting.stderr, b"aborting run 1")
    assert waiting.wait(timeout=120) == 1
    (tmp_path / "go").touch()  # the step's process was stopped: nothing is left to go on
    time.sleep(0.3)
    assert effects(tmp_path) == ["one", "undo-one"]
    events = run_cli("logs", "1").stdout
    assert "Ctrl-C at the terminal" in events
    assert "run.finished" in events
    assert "why: step 'wait for go' failed: aborted by alice" in events
    assert "no active runs" in run_cli("status").stdout
