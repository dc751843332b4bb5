"""The ``runwright`` command: the main group, its global options, and every command on it.

Exit codes: 0 succeeded, 1 run failed or rolled back, 2 bad input, 3 blocked (locked,
awaiting approval or settlement, outside a window). No traceback reaches a user: the group
(``cli.edge.RunwrightGroup``) maps every command's errors to one line with the fix;
``RUNWRIGHT_DEBUG=1`` shows the traceback for bug reports.
"""

from __future__ import annotations

import json
import sys

import click

from runwright import __version__
from runwright.app.runtime import read_runbook
from runwright.app.schema import json_schema
from runwright.cli import (
    cmd_audit,
    cmd_database,
    cmd_deliveries,
    cmd_runs,
    cmd_views,
    cmd_web,
    cmd_workers,
    remote,
)
from runwright.cli.cmd_markdown import import_cmd, lint_cmd
from runwright.cli.cmd_review import review_cmd
from runwright.cli.edge import Ctx, RunwrightGroup, pass_ctx, report
from runwright.errors import RunwrightError


@click.group(cls=RunwrightGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runwright")
@click.option(
    "--database-url",
    envvar="RUNWRIGHT_DATABASE_URL",
    default=None,
    help="State store: sqlite:///PATH (default: in the state directory) or "
    "postgresql://user@host:port/db. Env: RUNWRIGHT_DATABASE_URL.",
)
@click.option(
    "--state-dir",
    envvar="RUNWRIGHT_STATE_DIR",
    default=None,
    help="Where runwright keeps its database, pid files and backups. "
    "Default: $XDG_STATE_HOME/runwright. Env: RUNWRIGHT_STATE_DIR.",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, state_dir: str | None) -> None:
    """runwright: a deployment runbook that executes itself, proves what it did, and
    undoes itself when production says no.

    \b
    Exit codes: 0 succeeded, 1 failed or rolled back, 2 bad input,
                3 blocked (locked, awaiting approval/settlement, outside a window).
    The acting user is $RUNWRIGHT_USER, else the OS user.

    \b
    Remote mode (a team's server): `runwright login URL`, or --server URL /
    RUNWRIGHT_SERVER with RUNWRIGHT_TOKEN; deploy, plan, status, history, logs,
    events, approve, reject, attest, abort, resume, settle, rollback, report,
    audit verify and environments then act through the server (docs/team.md).
    """
    ctx.obj = Ctx(database_url, state_dir)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check runbook FILES against the schema; report file:line:col and a hint per problem."""
    results = []
    worst = 0
    for f in files:
        try:
            book = read_runbook(f)
        except RunwrightError as exc:
            worst = max(worst, exc.exit_code)
            results.append({"file": f, "ok": False, "error": str(exc)})
            if not as_json:
                report(exc)
            continue
        results.append({"file": f, "ok": True, "name": book.name, "steps": len(book.steps())})
        if not as_json:
            release = f", a {book.release.strategy} release" if book.release else ""
            if book.services:
                release = ", a product of " + ", ".join(
                    f"{n} ({s.release.strategy})" for n, s in book.services.items()
                )
            click.echo(
                f"{f}: ok ({book.name}, {len(book.steps())} steps{release}, "
                f"{len(book.environments)} environments)"
            )
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(worst)


@cli.command()
def schema() -> None:
    """Print the runbook JSON Schema (point your editor's YAML plugin at it)."""
    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.option(
    "--router",
    type=click.Choice(["builtin", "haproxy"]),
    default="builtin",
    show_default=True,
    help="Which router carries the traffic.",
)
@click.option("--keep-running", is_flag=True, help="Leave the service and router running.")
@pass_ctx
def demo(c: Ctx, router: str, keep_running: bool) -> None:
    """Four releases of a sample service on localhost under live traffic: v1, v2 blue-green,
    v3 stopped by its smoke test, v4 a canary failing 20% of requests, rolled back by analysis
    of the router's counters. Prints what users saw. Uses its own state (STATE_DIR/demo).

    Exit 0 when every release ended as expected and no user request failed except those the
    faulty canary answered on purpose."""
    from runwright.cli.cmd_demo import demo_command

    sys.exit(demo_command(c.settings(), router, keep_running))


for _command in (
    *cmd_runs.COMMANDS,
    *cmd_views.COMMANDS,
    import_cmd,
    lint_cmd,
    review_cmd,
    *cmd_database.COMMANDS,
    *cmd_web.COMMANDS,
    *cmd_deliveries.COMMANDS,
    *cmd_audit.commands(pass_ctx, lambda command: command),
    *cmd_workers.commands(pass_ctx, lambda command: command),
    remote.login,
    remote.logout,
):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="runwright")


if __name__ == "__main__":
    main()
