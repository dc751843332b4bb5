"""Starting, recognising and stopping a router process that outlives runwright.

Both routers run as daemons (the builtin proxy with ``--daemon``, HAProxy with ``-D``): the
launcher exits once the daemon serves, so runwright leaves no zombie behind and a SIGKILL of
runwright does not touch the router. Later runs find the daemon again by the pid in its state
or pid file; a pid alone is not an identity (the kernel recycles them), so a process counts as
the router only while its command line still names it (``marker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from runwright.engine.clock import Clock
from runwright.errors import DriverError


def alive(pid: int, marker: str) -> bool:
    """Whether ``pid`` runs now, is not a zombie, and its command line contains ``marker``."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split(" ", 1)[0]
    return state not in ("Z", "X") and marker.encode() in cmdline


async def launch(
    argv: Sequence[str], limit: float, what: str, clock: Clock, hint: str | None = None
) -> str:
    """Run a launcher that exits once its daemon serves; its output, or DriverError."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise DriverError(
            f"cannot start {what}: {exc}", retryable=False, hint=f"is {argv[0]} installed?"
        ) from None
    try:
        async with clock.timeout(limit):
            out, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise DriverError(f"{what} did not start within {limit:g}s") from None
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise DriverError(
            f"{what} failed to start (exit {proc.returncode}): {text or 'no output'}",
            retryable=False,
            hint=hint,
        )
    return text


async def terminate(pid: int, marker: str, grace: float, clock: Clock) -> bool:
    """SIGTERM ``pid`` (if it is still the router), SIGKILL after ``grace`` s; True if it ran."""
    if not alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not await _gone(pid, marker, grace, clock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await _gone(pid, marker, 5.0, clock)
    return True


async def _gone(pid: int, marker: str, within: float, clock: Clock) -> bool:
    deadline = clock.monotonic() + within
    while clock.monotonic() < deadline:
        if not alive(pid, marker):
            return True
        await clock.sleep(0.01)
    return not alive(pid, marker)
