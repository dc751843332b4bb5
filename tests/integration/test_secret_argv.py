"""A secret rendered into a step's command is not in any process's arguments: ``ps`` shows
every user of the host each process's command line, so the command goes to the shell on its
standard input, not after ``-c``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import cli_command, cli_environ

TOKEN = "s3cr3t-argv-Qw7"
BOOK = """\
name: argv
secrets:
  API_TOKEN: {env: API_TOKEN}
phases:
  - name: p
    steps:
      - name: uses it
        run: |
          sleep 2
          echo token {{ secrets.API_TOKEN }} > {{ out }}
"""


@pytest.mark.slow
def test_a_secret_in_a_command_is_not_visible_in_ps(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    out = tmp_path / "out"
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [*cli_command(), "deploy", str(book), "--version", "v1", "--var", f"out={out}"],
        env=cli_environ(state, API_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    seen_shell = False
    try:
        while proc.poll() is None:
            table = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True)
            assert TOKEN not in table.stdout
            seen_shell = seen_shell or "_rw_script" in table.stdout
            time.sleep(0.1)
    finally:
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert seen_shell, "the step's shell was never seen running"
    assert out.read_text() == f"token {TOKEN}\n"
