"""The ``runwright`` command: parse input, call the app, render output, map errors to exit codes.

Exit codes: 0 succeeded, 1 run failed or rolled back, 2 bad input, 3 blocked (locked,
awaiting approval or settlement, outside a window). No traceback reaches a user: errors are
printed as one line with the fix; ``RUNWRIGHT_DEBUG=1`` shows the traceback for bug reports.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runwright import __version__
from runwright.app import report as report_mod
from runwright.app import runs
from runwright.app.plan import Plan
from runwright.app.preview import plan_for, rollback_plan
from runwright.app.runtime import Runtime
from runwright.app.schema import json_schema
from runwright.app.settings import Settings
from runwright.cli import cmd_audit, cmd_database, cmd_web
from runwright.cli.cmd_markdown import import_cmd, lint_cmd
from runwright.cli.render import ConsoleObserver
from runwright.cli.terminal import output_closed, safe_echo, two_step_interrupt
from runwright.errors import InputError, RunwrightError
from runwright.model.status import RunStatus, Settlement

F = TypeVar("F", bound=Callable[..., Any])


def _err(text: str) -> None:
    safe_echo(text, err=True)


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RunwrightError as exc:
            _err(f"error: {exc.message}" if not hasattr(exc, "location") else f"error: {exc}")
            if exc.hint and not hasattr(exc, "location"):
                _err(f"hint: {exc.hint}")
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            output_closed()
            sys.exit(0)
        except KeyboardInterrupt:
            _err("interrupted: the run is journaled; continue with runwright resume RUN")
            sys.exit(130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:
            if os.environ.get("RUNWRIGHT_DEBUG"):
                raise
            _err(f"internal error: {type(exc).__name__}: {exc}")
            _err("hint: this is a bug in runwright; rerun with RUNWRIGHT_DEBUG=1 for details")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class Ctx:
    def __init__(self, database_url: str | None, state_dir: str | None) -> None:
        self.database_url = database_url
        self.state_dir = state_dir
        self._rt: Runtime | None = None

    def settings(self) -> Settings:
        return Settings.from_environ(
            os.environ, database_url=self.database_url, state_dir=self.state_dir
        )

    def runtime(self, *, quiet: bool = False) -> Runtime:
        if self._rt is None:
            self._rt = Runtime.open(self.settings(), observer=ConsoleObserver(quiet=quiet))
        return self._rt


pass_ctx = click.make_pass_decorator(Ctx)


def _vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--var {pair!r} is not NAME=VALUE", hint="e.g. --var replicas=3")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def _interactive(yes: bool) -> Callable[[str], bool] | None:
    if not sys.stdin.isatty() or os.environ.get("CI"):
        return None

    def ask(question: str) -> bool:
        return yes or click.confirm(question, default=False, err=True)

    return ask


def _finish(rt: Runtime, run_id: int, as_json: bool) -> None:
    run = rt.store.run(run_id)
    code = runs.exit_code_for(run)
    if as_json:
        safe_echo(runs.dumps(runs.run_summary(rt, run)))
    else:
        line = f"run {run.id}: {run.status}"
        if run.failure and run.status != RunStatus.SUCCEEDED:
            line += f" ({run.failure})"
        _err(line)
        if run.status == RunStatus.AWAITING_APPROVAL:
            _err(
                f"next: another person runs `runwright approve {run.id} --note ...`, "
                f"then `runwright resume {run.id}`"
            )
        elif run.status == RunStatus.AWAITING_ATTESTATION:
            _err(
                f"next: `runwright attest {run.id} --all --note ...`, then "
                f"`runwright resume {run.id}`"
            )
        elif run.status == RunStatus.AWAITING_SETTLEMENT:
            _err(
                f"next: `runwright settle {run.id} STEP --rerun|--done|--rollback`, then "
                f"`runwright resume {run.id}`"
            )
        elif run.status == RunStatus.AWAITING_DECISION:
            _err(
                f"next: `runwright resume {run.id}` measures again, "
                f"`runwright abort {run.id}` rolls back"
            )
        elif run.terminal:
            _err(f"report: runwright report {run.id}")
    sys.exit(code)


def _print_plan(p: Plan, *, header: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(p.as_dict(), indent=2))
        return
    click.echo(header)
    phase = None
    for n, s in enumerate(p.steps, 1):
        if s.phase != phase:
            phase = s.phase
            click.echo(f"\n== {phase}")
        flags = []
        if s.timeout:
            flags.append(f"timeout {s.timeout:g}s")
        if s.retries:
            flags.append(f"retries {s.retries}")
        if s.idempotent:
            flags.append("idempotent")
        suffix = f"  ({', '.join(flags)})" if flags else ""
        click.echo(f"{n:>3}. [{s.kind}] {s.name}{suffix}  -- not executed")
        for line in s.lines:
            click.echo(f"       {line}")
        if s.undo:
            click.echo("       undo: " + " / ".join(s.undo))
    click.echo("\n== rollback plan (if a step fails: undo completed steps newest first, then:)")
    undo_order = [s for s in reversed(p.steps) if s.undo]
    for s in undo_order:
        click.echo(f"   - undo {s.name}: " + " / ".join(s.undo or []))
    for s in p.rollback:
        click.echo(f"   - [{s.kind}] {s.name}: " + " / ".join(s.lines))
    if not undo_order and not p.rollback:
        click.echo("   (nothing)")
    for note in p.notes:
        click.echo(f"\nnote: {note}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    """
    ctx.obj = Ctx(database_url, state_dir)
    ctx.call_on_close(lambda: ctx.obj._rt.close() if ctx.obj._rt else None)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@pass_ctx
@handle_errors
def validate(c: Ctx, files: tuple[str, ...], as_json: bool) -> None:
    """Check runbook FILES against the schema; report file:line:col and a hint per problem."""
    from runwright.app.runtime import read_runbook

    results = []
    worst = 0
    for f in files:
        try:
            book = read_runbook(f)
            results.append({"file": f, "ok": True, "name": book.name, "steps": len(book.steps())})
            if not as_json:
                release = f", a {book.release.strategy} release" if book.release else ""
                click.echo(
                    f"{f}: ok ({book.name}, {len(book.steps())} steps{release}, "
                    f"{len(book.environments)} environments)"
                )
        except RunwrightError as exc:
            worst = max(worst, exc.exit_code)
            results.append({"file": f, "ok": False, "error": str(exc)})
            if not as_json:
                _err(str(exc))
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(worst)


@cli.command()
@click.argument("runbook", type=click.Path())
@click.option("-e", "--env", "env", help="Environment to plan for.")
@click.option("--version", "version", default="<version>", help="Version to deploy.")
@click.option("--var", "var", multiple=True, help="Override a variable: NAME=VALUE.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@pass_ctx
@handle_errors
def plan(
    c: Ctx, runbook: str, env: str | None, version: str, var: tuple[str, ...], as_json: bool
) -> None:
    """Show every step with its rendered commands, gates, approvals and the rollback plan.

    Nothing is executed.
    """
    rt = c.runtime()
    p = plan_for(rt, rt.load(runbook), env, version, _vars(var))
    _print_plan(
        p,
        header=f"Plan: {p.runbook} {p.version} -> {p.environment} (not executed)",
        as_json=as_json,
    )


@cli.command()
@click.argument("runbook", type=click.Path())
@click.option("-e", "--env", "env", help="Environment to deploy to.")
@click.option("--version", "version", required=True, help="Version to deploy.")
@click.option("--var", "var", multiple=True, help="Override a variable: NAME=VALUE.")
@click.option("--yes", is_flag=True, help="Answer yes to checklist prompts on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@pass_ctx
@handle_errors
def deploy(
    c: Ctx,
    runbook: str,
    env: str | None,
    version: str,
    var: tuple[str, ...],
    yes: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run RUNBOOK for an environment and version, journaling every step."""
    rt = c.runtime(quiet=quiet)
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        run = runs.deploy(
            rt, runbook, env, version, overrides=_vars(var), interactive=_interactive(yes)
        )
    _finish(rt, run.id, as_json)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--yes", is_flag=True, help="Answer yes to checklist prompts on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@pass_ctx
@handle_errors
def resume(c: Ctx, run_id: int, yes: bool, as_json: bool, quiet: bool) -> None:
    """Continue RUN_ID after a crash, an approval, an attestation or a settlement."""
    rt = c.runtime(quiet=quiet)
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        run = runs.resume(rt, run_id, interactive=_interactive(yes))
    _finish(rt, run.id, as_json)


@cli.command("rollback")
@click.option("-e", "--env", "env", required=True, help="Environment to roll back.")
@click.option("--to-revision", type=int, help="Revision number (default: the previous one).")
@click.option("--runbook", help="Runbook name, when several deploy to this environment.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@pass_ctx
@handle_errors
def rollback_cmd(
    c: Ctx,
    env: str,
    to_revision: int | None,
    runbook: str | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy an earlier revision of ENV again, through the same strategy (plan first)."""
    rt = c.runtime(quiet=quiet)
    p, header, number = rollback_plan(rt, env, runbook, to_revision)
    if dry_run or not as_json:
        _print_plan(p, header=header, as_json=as_json)
    if dry_run:
        if not as_json:
            click.echo("\ndry run: nothing was executed")
        return
    with two_step_interrupt(rt.interrupt, rt.settings.user):
        run = runs.rollback(
            rt, env, runbook=p.runbook, to_revision=number, interactive=_interactive(False)
        )
    _finish(rt, run.id, as_json)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--note", required=True, help="Why you approve (kept in the audit trail).")
@pass_ctx
@handle_errors
def approve(c: Ctx, run_id: int, note: str) -> None:
    """Approve RUN_ID as the current user."""
    rt = c.runtime()
    _, message = runs.approve(rt, run_id, note)
    click.echo(message)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--item", "items", type=int, multiple=True, help="Item number (repeatable).")
@click.option("--all", "all_items", is_flag=True, help="Attest every item of the gate.")
@click.option("--note", default="", help="Evidence or comment.")
@pass_ctx
@handle_errors
def attest(c: Ctx, run_id: int, items: tuple[int, ...], all_items: bool, note: str) -> None:
    """Attest checklist items (or a manual step) of RUN_ID as done by you."""
    if not items and not all_items:
        raise InputError("say which items: --item N (repeatable) or --all")
    rt = c.runtime()
    _, message = runs.attest(rt, run_id, note, list(items) or None)
    click.echo(message)


@cli.command()
@click.argument("run_id", type=int)
@click.argument("step")
@click.option("--rerun", "choice", flag_value=Settlement.RERUN, help="Run the step again.")
@click.option("--done", "choice", flag_value=Settlement.DONE, help="It completed; go on.")
@click.option("--rollback", "choice", flag_value=Settlement.ROLLBACK, help="Treat it as failed.")
@click.option("--wait", "orphan", flag_value="wait", help="If it still runs, let it finish first.")
@click.option("--kill", "orphan", flag_value="kill", help="If it still runs, stop it first.")
@pass_ctx
@handle_errors
def settle(c: Ctx, run_id: int, step: str, choice: str | None, orphan: str | None) -> None:
    """Decide what happened to STEP (name or number), in flight when runwright stopped.

    If the step's process group is still running (runwright was killed, the step was not),
    say whether to --wait for it or --kill it first."""
    if not choice:
        raise InputError("choose one of --rerun, --done, --rollback")
    rt = c.runtime()
    _, message = runs.settle_step(rt, run_id, step, choice, orphan=orphan)
    click.echo(message)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@pass_ctx
@handle_errors
def abort(c: Ctx, run_id: int, reason: str) -> None:
    """Stop RUN_ID and roll back what it did."""
    rt = c.runtime()
    run, message = runs.abort(rt, run_id, reason)
    click.echo(message)
    sys.exit(0 if run.terminal or run.abort_requested else 1)


@cli.command()
@click.argument("run_id", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def status(c: Ctx, run_id: int | None, as_json: bool) -> None:
    """Show active runs, or one run's steps."""
    rt = c.runtime()
    if run_id is None:
        active = rt.store.runs(active=True)
        if as_json:
            click.echo(runs.dumps([runs.run_summary(rt, r) for r in active]))
            return
        if not active:
            click.echo("no active runs")
        for r in active:
            click.echo(
                f"{r.id:>5}  {r.runbook}/{r.environment}  {r.version}  {r.status}  by {r.initiator}"
            )
        return
    run = rt.store.run(run_id)
    data = runs.run_summary(rt, run)
    if as_json:
        click.echo(runs.dumps(data))
        return
    click.echo(f"run {run.id}: {run.runbook} {run.version} -> {run.environment}: {run.status}")
    if run.failure:
        click.echo(f"  failure: {run.failure}")
    for s in data["steps"]:
        undo = f" (undo {s['undo_status']})" if s["undo_status"] else ""
        click.echo(
            f"  {s['section']:<8} {s['status']:<10} {s['name']}{undo}"
            + (f" -- {s['summary']}" if s["summary"] else "")
        )


@cli.command()
@click.option("--runbook", help="Only this runbook (by name).")
@click.option("-e", "--env", "env", help="Only this environment.")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def history(c: Ctx, runbook: str | None, env: str | None, limit: int, as_json: bool) -> None:
    """List past and present runs, newest first."""
    rt = c.runtime()
    rows = rt.store.runs(runbook=runbook, environment=env, limit=limit)
    if as_json:
        click.echo(
            runs.dumps(
                [
                    {
                        "id": r.id,
                        "runbook": r.runbook,
                        "environment": r.environment,
                        "version": r.version,
                        "status": r.status,
                        "initiator": r.initiator,
                        "kind": r.kind,
                        "revision": r.revision,
                        "created_at": r.created_at.isoformat(),
                        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    }
                    for r in rows
                ]
            )
        )
        return
    if not rows:
        click.echo("no runs yet")
    for r in rows:
        click.echo(
            f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M}  {r.runbook}/{r.environment}  "
            f"{r.version}  {r.status}  by {r.initiator}"
        )


@cli.command()
@click.argument("run_id", type=int)
@click.option("--step", help="Only this step's output.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def logs(c: Ctx, run_id: int, step: str | None, as_json: bool) -> None:
    """Show the events and step output of RUN_ID."""
    rt = c.runtime()
    run = rt.store.run(run_id)
    events = rt.store.events(run.id)
    steps = rt.store.steps(run.id)
    if as_json:
        click.echo(
            runs.dumps(
                {
                    "events": [
                        {
                            "seq": e.seq,
                            "at": e.at.isoformat(),
                            "actor": e.actor,
                            "type": e.type,
                            "step": e.step,
                            "data": e.data,
                        }
                        for e in events
                    ],
                    "output": {s.name: s.output for s in steps if s.output},
                }
            )
        )
        return
    for e in events:
        if step and e.step != step:
            continue
        detail = json.dumps(e.data, default=str) if e.data else ""
        click.echo(
            f"{e.at:%H:%M:%S} #{e.seq:<4} {e.actor:<12} {e.type:<22} {e.step or ''} {detail}"
        )
    for s in steps:
        if s.output and (not step or s.name == step):
            click.echo(f"\n--- output of {s.name}")
            click.echo(s.output.rstrip("\n"))
    if run.failure:
        click.echo(f"\nwhy: {run.failure}")


@cli.command()
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Write to a file instead of stdout.")
@pass_ctx
@handle_errors
def report(c: Ctx, run_id: int, fmt: str, output: str | None) -> None:
    """The sign-off sheet of RUN_ID: every gate, approval and step with who, when, evidence."""
    rt = c.runtime()
    run = rt.store.run(run_id)
    if fmt == "html":
        from runwright.app.report_html import html

        text = html(rt, run)
    else:
        text = report_mod.markdown(rt, run)
    if output:
        Path(output).write_text(text)
        _err(f"wrote {output}")
    else:
        click.echo(text)


@cli.command()
def schema() -> None:
    """Print the runbook JSON Schema (point your editor's YAML plugin at it)."""
    click.echo(json.dumps(json_schema(), indent=2))


@cli.command("run-procedure")
@click.argument("runbook", type=click.Path())
@click.argument("name")
@click.option("-e", "--env", "env", help="Environment to run it against.")
@click.option("--version", "version", default="-", help="Version (for templates).")
@click.option("--var", "var", multiple=True, help="Override a variable: NAME=VALUE.")
@click.option("--yes", is_flag=True, help="Answer yes to checklist prompts on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@pass_ctx
@handle_errors
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
        run = runs.deploy(
            rt,
            runbook,
            env,
            version,
            overrides=_vars(var),
            interactive=_interactive(yes),
            procedure=name,
        )
    _finish(rt, run.id, as_json)


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
@handle_errors
def demo(c: Ctx, router: str, keep_running: bool) -> None:
    """Four releases of a sample service on localhost under live traffic: v1, v2 blue-green,
    v3 stopped by its smoke test, v4 a canary failing 20% of requests, rolled back by analysis
    of the router's counters. Prints what users saw. Uses its own state (STATE_DIR/demo).

    Exit 0 when every release ended as expected and no user request failed except those the
    faulty canary answered on purpose."""
    from runwright.cli.cmd_demo import demo_command

    sys.exit(demo_command(c.settings(), router, keep_running))


cli.add_command(import_cmd)
cli.add_command(lint_cmd)
for _command in [*cmd_database.COMMANDS, *cmd_web.COMMANDS]:
    cli.add_command(_command)
for _command in cmd_audit.commands(pass_ctx, handle_errors):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="runwright")


if __name__ == "__main__":
    main()
