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
from runwright.cli.edge import Ctx, pass_ctx, report
from runwright.cli.lazy import Lazy, LazyGroup

_RUNS, _VIEWS = "runwright.cli.cmd_runs", "runwright.cli.cmd_views"
_DB, _WEB = "runwright.cli.cmd_database", "runwright.cli.cmd_web"
_AUDIT, _WORKERS = "runwright.cli.cmd_audit", "runwright.cli.cmd_workers"
_MARKDOWN, _REMOTE = "runwright.cli.cmd_markdown", "runwright.cli.remote"
COMMANDS = {
    "plan": Lazy(
        _RUNS,
        "Show every step with its rendered commands, gates, approvals and the rollback plan.",
    ),
    "deploy": Lazy(
        _RUNS,
        "Run RUNBOOK for an environment and version, journaling every step (with --detach, "
        "queue it for `runwright worker` and exit 0 printing its id).",
    ),
    "resume": Lazy(
        _RUNS,
        "Continue RUN_ID after a crash, an approval, an attestation or a settlement.",
    ),
    "rollback": Lazy(
        _RUNS,
        "Deploy an earlier revision of ENV again, through the same strategy (plan first).",
    ),
    "approve": Lazy(
        _RUNS,
        "Approve RUN_ID as the current user.",
    ),
    "reject": Lazy(
        _RUNS,
        "Reject RUN_ID's approval as the current user: the run rolls back.",
    ),
    "attest": Lazy(
        _RUNS,
        "Attest checklist items (or a manual step) of RUN_ID as done by you.",
    ),
    "settle": Lazy(
        _RUNS,
        "Decide what happened to STEP (name or number), in flight when runwright stopped.",
    ),
    "abort": Lazy(
        _RUNS,
        "Stop RUN_ID and roll back what it did.",
    ),
    "run-procedure": Lazy(
        _RUNS,
        "Run the named procedure of RUNBOOK (troubleshooting, emergency...) as a journaled run.",
    ),
    "status": Lazy(
        _VIEWS,
        "Show active runs (each holds its environment's lock), or one run's steps.",
    ),
    "history": Lazy(
        _VIEWS,
        "List past and present runs, newest first.",
    ),
    "logs": Lazy(
        _VIEWS,
        "Show the events and step output of RUN_ID.",
    ),
    "events": Lazy(
        _VIEWS,
        "Every run's events in commit order (the bus the dashboard and notifications read).",
    ),
    "environments": Lazy(
        _VIEWS,
        "Each runbook's environments: live revision and version, and the run holding the lock.",
    ),
    "report": Lazy(
        _VIEWS,
        "The sign-off sheet of RUN_ID: every gate, approval and step with who, when, evidence.",
    ),
    "import": Lazy(
        _MARKDOWN,
        "Turn the Markdown RUNBOOK into a runwright YAML runbook.",
        "import_cmd",
    ),
    "lint": Lazy(
        _MARKDOWN,
        "Report what is unsafe or missing in runbook FILES (YAML or Markdown).",
        "lint_cmd",
    ),
    "review": Lazy(
        "runwright.cli.cmd_review",
        "Review the draft steps `runwright import` proposed in the YAML RUNBOOK, one by one.",
        "review_cmd",
    ),
    "backup": Lazy(
        _DB,
        "Back up DATABASE (a postgresql:// URL, sqlite:///PATH or a SQLite file) now.",
    ),
    "backups": Lazy(
        _DB,
        "Backups in the catalog.",
    ),
    "restore": Lazy(
        _DB,
        "Restore BACKUP (an id from `runwright backups list`, or a backup directory).",
    ),
    "serve": Lazy(
        _WEB,
        "The dashboard and REST API (/api/v1): live runs, approvals, charts.",
    ),
    "users": Lazy(
        _WEB,
        "Users of the web edge and their roles per environment.",
    ),
    "token": Lazy(
        _WEB,
        "Tokens for the REST API (Authorization: Bearer) and one-time login links.",
    ),
    "deliveries": Lazy(
        "runwright.cli.cmd_deliveries",
        "Notifications not delivered: sending, failed (next attempt at), given up.",
    ),
    "audit": Lazy(
        _AUDIT,
        "Check the keyed, hash-chained audit trail.",
    ),
    "unlock": Lazy(
        _AUDIT,
        "Break the lock of RUNBOOK in ENVIRONMENT; its run ends aborted.",
    ),
    "worker": Lazy(
        _WORKERS,
        "Claim queued runs (runwright deploy --detach) and runs whose driver's lease expired,"
        " and drive them.",
    ),
    "workers": Lazy(
        _WORKERS,
        "List the workers serving this store: host, pid, started, last heartbeat, state "
        "(alive, silent past the lease TTL, stopped) and the runs each holds.",
    ),
    "login": Lazy(
        _REMOTE,
        "Log in to the runwright server at URL with an API token (`runwright users token "
        "NAME` there, or --browser); it is kept in $XDG_CONFIG_HOME/runwright/credentials "
        "(mode 0600).",
        "login",
    ),
    "logout": Lazy(
        _REMOTE,
        "Forget the token of URL (default: the current server).",
        "logout",
    ),
}
"""The commands defined in other modules, imported when one of them runs (cli/lazy.py)."""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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
    from runwright.app.runtime.runtime import read_runbook
    from runwright.errors import RunwrightError

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
    from runwright.app.reads.schema import json_schema

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


def main() -> None:
    cli(prog_name="runwright")


if __name__ == "__main__":
    main()
