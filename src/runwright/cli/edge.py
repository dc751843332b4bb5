"""The edge every command shares: one error mapping, the runtime, and the one ``asyncio.run``.

``RunwrightGroup`` wraps the invocation of every command (nested groups included), so errors
are mapped once: a runwright error becomes ``error: ...`` / ``hint: ...`` and its exit code
(2 bad input, 3 blocked, 1 failed), Ctrl-C a note that the run is journaled (130), a closed
pipe (``runwright logs 1 | head``) a quiet exit 0 (``terminal.output_closed``), and anything
else one line asking for a bug report (the traceback only with ``RUNWRIGHT_DEBUG=1``).
Commands call the app's coroutines through ``run``, the one place the CLI starts an event loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runwright.cli.terminal import is_closed_pipe, output_closed, safe_echo
from runwright.errors import RunbookError, RunwrightError

if TYPE_CHECKING:  # the remote CLI imports this edge and must not load the store's drivers
    from runwright.app.runtime.runtime import Runtime
    from runwright.app.runtime.settings import Settings

T = TypeVar("T")


def err(text: str) -> None:
    safe_echo(text, err=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one app coroutine to its end: the CLI's only event loop."""
    return asyncio.run(coro)


def report(exc: RunwrightError) -> None:
    """Tell a person what went wrong (``error: ...``) and what to do (``hint: ...``)."""
    if isinstance(exc, RunbookError):
        err(f"error: {exc}")
        return
    err(f"error: {exc.message}")
    if exc.hint:
        err(f"hint: {exc.hint}")


class RunwrightGroup(click.Group):
    """A click group mapping every command's errors to a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except RunwrightError as exc:
            report(exc)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err("interrupted: the run is journaled; continue with runwright resume RUN")
            sys.exit(130)
        except Exception as exc:
            if is_closed_pipe(exc):
                output_closed()
                sys.exit(0)
            if os.environ.get("RUNWRIGHT_DEBUG"):
                raise
            err(f"internal error: {type(exc).__name__}: {exc}")
            err("hint: this is a bug in runwright; rerun with RUNWRIGHT_DEBUG=1 for details")
            sys.exit(1)


class Ctx:
    """What the main group hands its commands: settings from the flags, one Runtime."""

    def __init__(self, database_url: str | None, state_dir: str | None) -> None:
        self.database_url = database_url
        self.state_dir = state_dir
        self._rt: Runtime | None = None

    def settings(self) -> Settings:
        from runwright.app.runtime.settings import Settings

        return Settings.from_environ(
            os.environ, database_url=self.database_url, state_dir=self.state_dir
        )

    def runtime(self, *, quiet: bool = False) -> Runtime:
        if self._rt is None:
            from runwright.app.runtime.runtime import Runtime
            from runwright.cli.render import ConsoleObserver

            self._rt = Runtime.open(self.settings(), observer=ConsoleObserver(quiet=quiet))
        return self._rt

    def close(self) -> None:
        if self._rt is not None:
            self._rt.close()


pass_ctx = click.make_pass_decorator(Ctx)
