"""Commands that only read: status, history, logs (live with ``--follow``), events,
environments, report (``cmd_audit`` has audit verify and export). Each renders one app read
model as text or JSON."""

from __future__ import annotations

import sys
from contextlib import aclosing
from pathlib import Path

import click

from runwright.app.reads import views
from runwright.app.runs.follow import FollowSettings, follow
from runwright.app.runtime.runtime import Runtime
from runwright.cli import show
from runwright.cli.edge import Ctx, err, pass_ctx, run
from runwright.cli.options import AS_JSON
from runwright.engine.store import EventRow

POLL = click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="With --follow: seconds between reads of the event table (PostgreSQL wakes at once).",
)


@click.command()
@click.argument("run_id", type=int, required=False)
@AS_JSON
@pass_ctx
def status(c: Ctx, run_id: int | None, as_json: bool) -> None:
    """Show active runs (each holds its environment's lock), or one run's steps.

    A run rolling back says so, and what its rollback waits for."""
    rt = c.runtime()
    if run_id is not None:
        show.run_status(views.status(rt, run_id), as_json)
        return
    show.active(views.active(rt), as_json)


@click.command()
@click.option("--runbook", help="Only this runbook (by name).")
@click.option("-e", "--env", "env", help="Only this environment.")
@click.option("--limit", default=20, show_default=True)
@AS_JSON
@pass_ctx
def history(c: Ctx, runbook: str | None, env: str | None, limit: int, as_json: bool) -> None:
    """List past and present runs, newest first."""
    show.history(views.history(c.runtime(), runbook=runbook, env=env, limit=limit), as_json)


def _echo_event(e: EventRow, as_json: bool, with_run: bool = False) -> None:
    show.event(views.event_json(e), as_json, with_run)


async def _follow(
    rt: Runtime, run_id: int | None, after: int, step: str | None, as_json: bool, poll: float
) -> None:
    settings = FollowSettings(poll_interval=poll)
    stream = follow(rt, run_id, after, settings=settings, until_finished=run_id is not None)
    async with aclosing(stream) as events:
        async for e in events:
            if step is None or e.step == step:
                _echo_event(e, as_json, with_run=run_id is None)
                sys.stdout.flush()


@click.command()
@click.argument("run_id", type=int)
@click.option("--step", help="Only this step's output.")
@click.option(
    "--follow",
    "-f",
    "live",
    is_flag=True,
    help="Print events as they are committed, "
    "from any process, until the run ends (JSON lines with --json).",
)
@POLL
@AS_JSON
@pass_ctx
def logs(
    c: Ctx, run_id: int, step: str | None, live: bool, poll_interval: float, as_json: bool
) -> None:
    """Show the events and step output of RUN_ID."""
    rt = c.runtime()
    if live:
        run(_follow(rt, run_id, 0, step, as_json, poll_interval))
        return
    found = views.logs(rt, run_id, step)
    show.logs(found.to_json(), found.run.failure, as_json)


@click.command()
@click.option("--after", type=int, default=0, help="Only events after this event id.")
@click.option("--follow", "-f", "live", is_flag=True, help="Keep printing new events (Ctrl-C).")
@POLL
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_ctx
def events(c: Ctx, after: int, live: bool, poll_interval: float, as_json: bool) -> None:
    """Every run's events in commit order (the bus the dashboard and notifications read)."""
    rt = c.runtime()
    if live:
        run(_follow(rt, None, after, None, as_json, poll_interval))
        return
    for e in views.events_after(rt, after):
        _echo_event(e, as_json, with_run=True)


@click.command()
@AS_JSON
@pass_ctx
def environments(c: Ctx, as_json: bool) -> None:
    """Each runbook's environments: live revision and version, and the run holding the lock."""
    show.environments(views.environments(c.runtime()), as_json)


@click.command()
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Write to a file instead of stdout.")
@pass_ctx
def report(c: Ctx, run_id: int, fmt: str, output: str | None) -> None:
    """The sign-off sheet of RUN_ID: every gate, approval and step with who, when, evidence."""
    text = views.report(c.runtime(), run_id, fmt)
    if output:
        Path(output).write_text(text)
        err(f"wrote {output}")
    else:
        click.echo(text)


COMMANDS = (status, history, logs, events, environments, report)
