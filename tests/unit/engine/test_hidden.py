"""A script handed to a shell through a pipe runs as it would after ``-c`` and is not in the
shell's arguments."""

from __future__ import annotations

import subprocess

from runwright.engine.hidden import LIMIT, shell_argv

SCRIPT = "export A='x y'; printf '%s|' \"$A\" \"$(cat)\"; echo\nexit 3\n"


def test_the_script_runs_from_the_pipe_and_stdin_stays_free() -> None:
    with shell_argv(SCRIPT) as (args, fds):
        assert "x y" not in " ".join(args)
        done = subprocess.run(
            ["/bin/sh", *args], input="data", capture_output=True, text=True, pass_fds=fds
        )
    assert done.stdout == "x y|data|\n"
    assert done.returncode == 3


def test_a_huge_script_or_another_shell_goes_in_the_arguments() -> None:
    with shell_argv("echo " + "x" * LIMIT) as (args, fds):
        assert fds == ()
        assert args[1].startswith("echo xxx")
    with shell_argv("print(1)", "/usr/bin/python3") as (args, fds):
        assert (args, fds) == (["-c", "print(1)"], ())
