"""The terminal is a window on a run, never a part of it: closing it or pressing Ctrl-C
once does not stop a deploy halfway.

Two things used to: a closed pipe (``runwright deploy ... | head -3``) made the next line of
the live view raise ``BrokenPipeError`` inside a step, and Ctrl-C killed the process between
two journal writes. Here, in one place the CLI's error mapping can call:

- ``output_closed()``: point stdout and stderr at /dev/null once the reader has gone, so
  every later write (the live view, the final status line, the interpreter's last flush)
  succeeds silently and the run reaches its end with its real exit code;
- ``safe_echo()``: print a line, or notice the reader has gone;
- ``two_step_interrupt()``: while a run is driven, the first Ctrl-C only warns, the second
  asks for an abort (journaled, then rolled back, as ``runwright abort`` would), later ones
  say it is rolling back. With no run being driven, Ctrl-C interrupts as usual.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from runwright.engine.interrupt import Interrupt

_CLOSED = False


def is_closed_pipe(exc: BaseException) -> bool:
    if isinstance(exc, BrokenPipeError | ConnectionResetError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.EBADF):
        return True
    return isinstance(exc, ValueError) and "closed file" in str(exc)


def output_closed() -> None:
    """The reader of stdout or stderr has gone: send both to /dev/null from now on."""
    global _CLOSED
    _CLOSED = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def safe_echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    if _CLOSED:
        return
    try:
        click.echo(text, err=err, nl=nl)
    except (OSError, ValueError) as exc:
        if not is_closed_pipe(exc):
            raise
        output_closed()


def safe_write(stream: Any, text: str) -> bool:
    """Write and flush ``text``; False (and the output switched off) when the reader is gone."""
    if _CLOSED:
        return False
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError) as exc:
        if not is_closed_pipe(exc):
            raise
        output_closed()
        return False
    return True


def _say(text: str) -> None:
    # os.write: a signal handler may run in the middle of a buffered write to stderr.
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


@contextlib.contextmanager
def two_step_interrupt(interrupt: Interrupt, user: str) -> Iterator[None]:
    """Install the two-press Ctrl-C for the duration of a command that drives a run."""
    presses = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal presses
        run = interrupt.driving
        if run is None:
            raise KeyboardInterrupt
        presses += 1
        if presses == 1:
            _say(
                f"\nrun {run} goes on; press Ctrl-C again to abort it (it rolls back), "
                "or wait for it to finish\n"
            )
        elif presses == 2:
            interrupt.request(user)
            _say(f"\naborting run {run}: rolling back what it did...\n")
        else:
            _say(f"\nrun {run} is rolling back; wait for it (`runwright status {run}`)\n")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
