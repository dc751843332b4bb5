"""Run a program or a shell script to its end under a deadline, and never leave it behind.

The command driver and router, the command provider, the database tools and the git-tag
check all run something, wait for its output and give up after a timeout. Each used to spell
that out, with its own choice of how to stop what it started: the one place here runs every
program in a session of its own and, when the deadline passes or the waiting task is
cancelled, kills the whole process group before it waits (a child still holding the pipes
would otherwise keep the wait from returning). Scripts reach the shell through
``engine.hidden``, so a rendered command with a secret in it never shows in ``ps``.

What a failure means is the caller's to say: ``NotStarted`` when the program cannot start,
``TimeoutError`` past the deadline, each mapped to the caller's own error family.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runwright.engine.clock import Clock
from runwright.engine.hidden import shell_argv


class NotStarted(Exception):
    """The program could not be started (missing, not executable, a bad working directory)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error

    @property
    def reason(self) -> str:
        return self.error.strerror or str(self.error)


@dataclass(frozen=True)
class Finished:
    """How a program ended: its exit status and what it printed (stderr is empty when it
    was merged into stdout)."""

    code: int
    out: str
    err: str

    def tail(self, lines: int) -> str:
        """The last ``lines`` lines of its output, indented for an error message."""
        text = (self.out + self.err).strip().splitlines()[-lines:]
        return "\n".join(f"  | {line}" for line in text) or "  (no output)"


def exports(env: Mapping[str, str]) -> str:
    """Shell lines that add ``env`` to the inherited environment, values quoted."""
    return "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in env.items())


async def run_program(
    argv: Sequence[str],
    *,
    timeout: float,  # noqa: ASYNC109
    clock: Clock,
    stdin: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> Finished:
    """Run ``argv`` with ``stdin`` (None: /dev/null) and wait for it, at most ``timeout``
    seconds. ``env`` None inherits runwright's environment."""
    process = await _spawn(argv, stdin, cwd, env, merge_stderr, ())
    return await _finish(process, stdin, timeout, clock)


async def run_script(
    script: str,
    *,
    timeout: float,  # noqa: ASYNC109
    clock: Clock,
    shell: str = "/bin/sh",
    stdin: bytes | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> Finished:
    """Run ``script`` with ``shell -c`` (its text through a pipe, not the arguments), as
    ``run_program`` runs a program."""
    with shell_argv(script, shell) as (args, fds):
        process = await _spawn([shell, *args], stdin, cwd, env, merge_stderr, fds)
    return await _finish(process, stdin, timeout, clock)


async def _spawn(
    argv: Sequence[str],
    stdin: bytes | None,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    merge_stderr: bool,
    pass_fds: tuple[int, ...],
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        raise NotStarted(exc) from exc


async def _finish(
    process: asyncio.subprocess.Process,
    stdin: bytes | None,
    timeout: float,  # noqa: ASYNC109
    clock: Clock,
) -> Finished:
    try:
        async with clock.timeout(timeout):
            out, err = await process.communicate(stdin)
    except BaseException:  # past the deadline, or the waiting task was cancelled
        await kill_group(process)
        raise
    return Finished(
        process.returncode or 0,
        out.decode(errors="replace"),
        (err or b"").decode(errors="replace"),
    )


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process's whole group (it leads a session of its own) and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()
