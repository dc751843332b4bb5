"""``run``: a shell command, the workhorse of every runbook.

The command is rendered with shell-quoted values, run by bash in its own process group (so a
timeout or abort can stop everything it started), its output streamed line by line to the
live view and the journal, and its exit code judged against ``accept_exit_codes``.
Multi-line commands run with ``set -eo pipefail``: a runbook step stops at its first failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from runwright.engine.clock import Clock
from runwright.engine.executor import Outcome
from runwright.model.templating import render, render_value
from runwright.model.types import shorthand
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext

KILL_GRACE = 5.0


class RunParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("command"))

    command: str
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    accept_exit_codes: list[int] = Field(default_factory=lambda: [0])
    shell: str = "/bin/bash"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"command": value}
        return value


GATE = 'IFS= read -r _ || exit 70\n_rw_script=$(cat)\nexec </dev/null\neval "$_rw_script"\n'
"""The step's shell waits on stdin until runwright has recorded its process group, then reads
the command itself from stdin and runs it with stdin from /dev/null: a runwright killed
between the spawn and that record leaves a shell that exits without running the command
(EOF), never an untracked one that runs it. The command (with whatever secrets were rendered
into it) never appears in the process's arguments, which every user of the host can read
with ``ps``."""


def _script(command: str) -> str:
    if "\n" in command.strip():
        return "set -eo pipefail\n" + command
    return command


async def _pump(stream: asyncio.StreamReader, emit: Any) -> list[str]:
    tail: list[str] = []
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            emit(line)
            tail = (tail + [line])[-20:]
    if pending:
        line = pending.decode(errors="replace")
        emit(line)
        tail = (tail + [line])[-20:]
    return tail


async def _stop_group(proc: asyncio.subprocess.Process, clock: Clock) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            async with clock.timeout(wait):
                await proc.wait()


async def run_command(
    command: str,
    *,
    env: Mapping[str, str],
    cwd: str | None,
    shell: str,
    emit: Any,
    started: Callable[[int], None] | None = None,
    clock: Clock,
) -> tuple[int, list[str]]:
    """Run ``command``; return (exit code, last lines). Kills the process group if cancelled.
    ``started`` hears the group's pid as soon as it exists (the journal records it)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            shell,
            "-c",
            GATE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise OSError(f"cannot start command: {cwd or shell} not found") from exc
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        try:
            if started is not None:
                started(proc.pid)
            proc.stdin.write(b"\n" + _script(command).encode())
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the shell is gone already; its exit code says why
        finally:
            proc.stdin.close()
        tail = await _pump(proc.stdout, emit)
        code = await proc.wait()
    except BaseException:  # cancelled, or the journal refused our write (lease lost)
        await _stop_group(proc, clock)
        raise
    return code, tail


def process_env(ctx: StepContext, extra: Mapping[str, str]) -> dict[str, str]:
    base = dict(ctx.services.environ)
    base.update(
        {
            "RUNWRIGHT_RUN_ID": str(ctx.run.id),
            "RUNWRIGHT_VERSION": ctx.run.version,
            "RUNWRIGHT_ENVIRONMENT": ctx.run.environment,
            "RUNWRIGHT_STEP": ctx.step.name,
        }
    )
    base.update({k: str(v) for k, v in extra.items()})
    return base


class RunKind:
    key = "run"
    params = RunParams

    def describe(self, p: RunParams, ctx: PlanContext) -> list[str]:
        lines = [
            f"$ {line}"
            for line in render(p.command, ctx.variables, shell=True, where="run").splitlines()
        ]
        if p.cwd:
            lines.append(f"  in {p.cwd}")
        if p.env:
            lines.append("  env: " + ", ".join(sorted(p.env)))
        return lines

    async def execute(self, ctx: StepContext, p: RunParams) -> Outcome:
        command = render(p.command, ctx.variables, shell=True, where=f"step '{ctx.step.name}'")
        env = render_value(p.env, ctx.variables, where=f"step '{ctx.step.name}' env")
        cwd = render(p.cwd, ctx.variables) if p.cwd else None
        try:
            code, tail = await run_command(
                command,
                env=process_env(ctx, env),
                cwd=cwd,
                shell=p.shell,
                emit=ctx.output,
                started=ctx.track,
                clock=ctx.clock,
            )
        except OSError as exc:
            return Outcome.fail(str(exc), retryable=False)
        if code in p.accept_exit_codes:
            return Outcome.ok(
                f"exit {code}" + (f": {tail[-1][:200]}" if tail else ""), exit_code=code
            )
        last = next((line for line in reversed(tail) if line.strip()), "")
        return Outcome.fail(
            f"exit code {code}" + (f": {last[:300]}" if last else ""), exit_code=code
        )


KIND = RunKind()
