"""``runwright deliveries``: the notifications runs still owe, and sending them now.

Lists every delivery that is not sent: still sending, failed and waiting for its next
attempt (with when), or given up; ``--retry`` first sends those whose next attempt has come,
as ``serve`` and workers do every few seconds.
"""

from __future__ import annotations

import click

from runwright.app.notifications import redelivery
from runwright.cli import show
from runwright.cli.edge import Ctx, pass_ctx, run


@click.command()
@click.option("--retry", is_flag=True, help="First send the deliveries that are due.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def deliveries(c: Ctx, retry: bool, as_json: bool) -> None:
    """Notifications not delivered: sending, failed (next attempt at), given up."""
    rt = c.runtime(quiet=True)
    if retry:
        touched = run(redelivery.retry_due(rt))
        if not as_json:
            click.echo(f"retried the due deliveries of {len(touched)} run(s)", err=True)
    owed = redelivery.owed(rt)
    if as_json:
        click.echo(show.dumps([o.to_json() for o in owed]))
        return
    if not owed:
        click.echo("every notification was delivered")
        return
    for o in owed:
        d = o.to_json()
        when = f" next {d['next_attempt']}" if d["next_attempt"] else ""
        click.echo(
            f"run {d['run']} {d['event']} -> {d['sink']}: {d['status']} after "
            f"{d['attempts']} attempt(s){when}: {d['detail']}"
        )


COMMANDS = (deliveries,)
