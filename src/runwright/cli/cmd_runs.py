"""Commands that start, drive or decide on runs: plan, deploy, resume, rollback, approve,
attest, settle, abort, run-procedure. Each parses its flags, awaits one app use case through
``edge.run`` and renders the outcome; the main group maps errors and exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import click

from runwright.app.plans.preview import plan_deploy, plan_rollback
from runwright.app.reads import views
from runwright.app.runs import decisions, runs, worker
from runwright.app.runs.decisions import Acted
from runwright.app.runtime.product import joined
from runwright.app.runtime.runtime import Runtime
from runwright.cli import show
from runwright.cli.edge import Ctx, pass_ctx, run
from runwright.cli.guided import guided
from runwright.cli.options import (
    ABORT_REASON,
    APPROVE_NOTE,
    ATTESTED_ITEMS,
    DEPLOY_ENV,
    PLAN_ENV,
    PLAN_JSON,
    QUIET,
    REJECT_NOTE,
    ROLLBACK_TARGET,
    SETTLEMENT,
    VAR,
    WAIT,
    versions,
)
from runwright.cli.terminal import two_step_interrupt
from runwright.engine.store import RunRow
from runwright.errors import InputError
from runwright.model.status import RunStatus


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--var {pair!r} is not NAME=VALUE", hint="e.g. --var replicas=3")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def interactive(yes: bool) -> Callable[[str], bool] | None:
    if not sys.stdin.isatty() or os.environ.get("CI"):
        return None

    def ask(question: str) -> bool:
        return yes or click.confirm(question, default=False, err=True)

    return ask


def finish(rt: Runtime, row: RunRow, as_json: bool) -> None:
    show.outcome(views.run_status(rt, row), as_json)
    sys.exit(runs.exit_code_for(row))


def acted(result: Acted) -> None:
    click.echo(result.message)
    sys.exit(result.exit_code)


JSON = click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON.")
YES = click.option("--yes", is_flag=True, help="Answer yes to checklist prompts on a terminal.")
GUIDED = click.option(
    "--guided",
    "guided_run",
    is_flag=True,
    help="On a terminal: show each manual step (its command) and checklist item and confirm "
    "it with one key, journaled under your name.",
)


@click.command()
@click.argument("runbook", type=click.Path())
@PLAN_ENV
@versions(required=False)
@VAR
@PLAN_JSON
@pass_ctx
def plan(
    c: Ctx,
    runbook: str,
    env: str | None,
    versions: tuple[str, ...],
    var: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show every step with its rendered commands, gates, approvals and the rollback plan.

    Nothing is executed.
    """
    version = joined(versions) or "<version>"
    p = run(plan_deploy(c.runtime(), runbook, env, version, parse_vars(var)))
    header = f"Plan: {p.runbook} {p.version} -> {p.environment} (not executed)"
    show.plan(p.as_dict(), header=header, as_json=as_json)


@click.command()
@click.argument("runbook", type=click.Path())
@DEPLOY_ENV
@versions(required=True)
@VAR
@YES
@GUIDED
@WAIT
@click.option("--detach", is_flag=True, help="Queue the run for a worker; print its id.")
@JSON
@QUIET
@pass_ctx
def deploy(
    c: Ctx,
    runbook: str,
    env: str | None,
    versions: tuple[str, ...],
    var: tuple[str, ...],
    yes: bool,
    guided_run: bool,
    wait: bool,
    detach: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run RUNBOOK for an environment and version, journaling every step (with --detach,
    queue it for `runwright worker` and exit 0 printing its id)."""
    version = joined(versions)
    rt = c.runtime(quiet=quiet)
    if detach:
        run_id = worker.queue(rt, runbook, env, version, overrides=parse_vars(var))
        queued = {"id": run_id, "status": RunStatus.QUEUED}
        click.echo(json.dumps(queued) if as_json else str(run_id))
        return
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        row = run(
            runs.deploy(
                rt,
                runbook,
                env,
                version,
                overrides=parse_vars(var),
                interactive=guided() if guided_run else interactive(yes),
                wait=wait,
            )
        )
    finish(rt, row, as_json)


@click.command()
@click.argument("run_id", type=int)
@YES
@GUIDED
@WAIT
@JSON
@QUIET
@pass_ctx
def resume(
    c: Ctx, run_id: int, yes: bool, guided_run: bool, wait: bool, as_json: bool, quiet: bool
) -> None:
    """Continue RUN_ID after a crash, an approval, an attestation or a settlement."""
    rt = c.runtime(quiet=quiet)
    ask = guided() if guided_run else interactive(yes)
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        row = run(runs.resume(rt, run_id, interactive=ask, wait=wait))
    finish(rt, row, as_json)


@click.command("rollback")
@ROLLBACK_TARGET
@WAIT
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@QUIET
@pass_ctx
def rollback_cmd(
    c: Ctx,
    env: str,
    to_revision: int | None,
    runbook: str | None,
    dry_run: bool,
    wait: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy an earlier revision of ENV again, through the same strategy (plan first).

    Windows and freezes do not hold a rollback, and the runbook's gates and approval steps
    are left out: it needs only the approvals ENV's `rollback:` rules ask for (none to the
    previous revision unless they say so)."""
    rt = c.runtime(quiet=quiet)
    rp = run(plan_rollback(rt, env, runbook, to_revision))
    if dry_run or not as_json:
        show.plan(rp.plan.as_dict(), header=rp.header, as_json=as_json)
    if dry_run:
        if not as_json:
            click.echo("\ndry run: nothing was executed")
        return
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        row = run(
            runs.rollback(
                rt,
                env,
                runbook=rp.runbook,
                to_revision=rp.revision,
                interactive=interactive(False),
                wait=wait,
            )
        )
    finish(rt, row, as_json)


@click.command()
@click.argument("run_id", type=int)
@APPROVE_NOTE
@pass_ctx
def approve(c: Ctx, run_id: int, note: str) -> None:
    """Approve RUN_ID as the current user."""
    rt = c.runtime()
    acted(run(decisions.approve(rt, run_id, note, rt.settings.identity)))


@click.command()
@click.argument("run_id", type=int)
@REJECT_NOTE
@pass_ctx
def reject(c: Ctx, run_id: int, note: str) -> None:
    """Reject RUN_ID's approval as the current user: the run rolls back."""
    from runwright.app.runs.decisions import reject as reject_run

    acted(run(reject_run(c.runtime(), run_id, note)))


@click.command()
@click.argument("run_id", type=int)
@ATTESTED_ITEMS
@pass_ctx
def attest(c: Ctx, run_id: int, items: tuple[int, ...], all_items: bool, note: str) -> None:
    """Attest checklist items (or a manual step) of RUN_ID as done by you.

    It acts on the gate or manual step the run waits on, in its deploy or its rollback
    phase (the message says which).
    """
    if not items and not all_items:
        raise InputError("say which items: --item N (repeatable) or --all")
    rt = c.runtime()
    acted(run(decisions.attest(rt, run_id, note, list(items) or None, rt.settings.identity)))


@click.command()
@click.argument("run_id", type=int)
@click.argument("step")
@SETTLEMENT
@pass_ctx
def settle(c: Ctx, run_id: int, step: str, choice: str | None, orphan: str | None) -> None:
    """Decide what happened to STEP (name or number), in flight when runwright stopped.

    If the step's process group is still running (runwright was killed, the step was not),
    say whether to --wait for it or --kill it first."""
    if not choice:
        raise InputError("choose one of --rerun, --done, --rollback")
    acted(run(decisions.settle_step(c.runtime(), run_id, step, choice, orphan=orphan)))


@click.command()
@click.argument("run_id", type=int)
@ABORT_REASON
@pass_ctx
def abort(c: Ctx, run_id: int, reason: str) -> None:
    """Stop RUN_ID and roll back what it did.

    Exit 0 once rolled back (or when the process driving it was asked to), 1 when the
    rollback failed, 3 while the rollback waits for an attestation or approval.
    """
    rt = c.runtime()
    acted(run(decisions.abort(rt, run_id, reason, rt.settings.identity)))


@click.command("run-procedure")
@click.argument("runbook", type=click.Path())
@click.argument("name")
@click.option("-e", "--env", "env", help="Environment to run it against.")
@click.option("--version", "version", default="-", help="Version (for templates).")
@VAR
@YES
@JSON
@QUIET
@pass_ctx
def run_procedure(
    c: Ctx,
    runbook: str,
    name: str,
    env: str | None,
    version: str,
    var: tuple[str, ...],
    yes: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run the named procedure of RUNBOOK (troubleshooting, emergency...) as a journaled run."""
    rt = c.runtime(quiet=quiet)
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        row = run(
            runs.deploy(
                rt,
                runbook,
                env,
                version,
                overrides=parse_vars(var),
                interactive=interactive(yes),
                procedure=name,
            )
        )
    finish(rt, row, as_json)


COMMANDS = (
    plan, deploy, resume, rollback_cmd, approve, reject, attest, settle, abort, run_procedure,
)  # fmt: skip
