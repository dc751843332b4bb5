"""The CLI in remote mode: the same commands, through a server's REST API and event stream.

``runwright login URL`` (or ``--server URL`` / ``RUNWRIGHT_SERVER`` with ``RUNWRIGHT_TOKEN``)
makes ``deploy``, ``plan``, ``status``, ``history``, ``logs``, ``events``, ``approve``,
``reject``, ``attest``, ``abort``, ``resume``, ``settle``, ``rollback``, ``report``, ``audit
verify`` and ``environments`` act through the server as the token's user: the server checks
the role per environment, and it and its workers are the only writers. The commands rebuild
the app's read models from the API's JSON and print them with the local mode's renderers
(``cli.show``), so the text, ``--json`` and exit codes are the local ones. This module and
what it imports load no database driver and no audit key; ``cli.entry`` sends a command here
before the local CLI (and its drivers) is ever imported.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runwright.app.reads.views import EnvironmentInfo, RunDetail, RunSummary
from runwright.cli import credentials, show
from runwright.cli.client import Api, device_login
from runwright.cli.edge import RunwrightGroup, err
from runwright.cli.options import (
    ABORT_REASON,
    APPROVE_NOTE,
    AS_JSON,
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
from runwright.cli.render import ConsoleObserver
from runwright.errors import InputError
from runwright.model.event_type import EventType
from runwright.model.status import AWAITING, RunStatus, exit_code

WAITABLE = frozenset({RunStatus.AWAITING_APPROVAL, RunStatus.AWAITING_ATTESTATION})


class Remote:
    """What the remote group hands its commands: the server and, on first use, a client."""

    def __init__(self, server: str | None) -> None:
        self.server = server
        self._api: Api | None = None

    def api(self) -> Api:
        if self._api is None:
            login = credentials.current(os.environ, self.server)
            if login is None:
                raise InputError(
                    "no server given",
                    hint="runwright login URL, or --server URL / RUNWRIGHT_SERVER",
                )
            self._api = Api(login.server, login.token)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


pass_remote = click.make_pass_decorator(Remote)


@click.group(cls=RunwrightGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", envvar="RUNWRIGHT_SERVER", default=None, help="Server URL.")
@click.pass_context
def cli(ctx: click.Context, server: str | None) -> None:
    """runwright, acting through a server (remote mode)."""
    ctx.obj = Remote(server)
    ctx.call_on_close(ctx.obj.close)


def _detail(api: Api, run_id: int) -> RunDetail:
    return RunDetail.from_json(api.get(f"/api/v1/runs/{run_id}"))


def _events(api: Api, run_id: int, after_seq: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("/api/v1/events", run=run_id, after=after_seq)
    return found


def _follow_run(
    api: Api, run_id: int, on_event: Callable[[dict[str, Any]], None], done: Callable[[], bool]
) -> None:
    """Hand each event of ``run_id`` to ``on_event``, in order, until ``done()``."""
    seq = last_id = 0
    finished = False

    def catch_up() -> None:
        nonlocal seq, last_id
        for e in _events(api, run_id, seq):
            seq, last_id = e["seq"], max(last_id, e["id"])
            on_event(e)

    def stop() -> bool:
        nonlocal finished
        finished = finished or done()
        return finished

    catch_up()
    if stop():
        return
    for _ in api.wakeups(run_id, last_id, stop):
        catch_up()


def _drive(api: Api, run_id: int, *, wait: bool, quiet: bool, as_json: bool) -> None:
    """Follow a run the server drives, printing progress like a local run, until it ends or
    (without ``wait``) stops for a person; then its outcome and exit code."""
    observer = ConsoleObserver(quiet=quiet)
    state: dict[str, RunDetail] = {}

    def on_event(e: dict[str, Any]) -> None:
        observer.event(run_id, e["type"], e["step"], e["data"] or {})

    def done() -> bool:
        st = _detail(api, run_id)
        state["last"] = st
        status = st.run.status
        return st.run.terminal or (status in AWAITING and not (wait and status in WAITABLE))

    _follow_run(api, run_id, on_event, done)
    st = state.get("last") or _detail(api, run_id)
    show.outcome(st, as_json)
    sys.exit(exit_code(st.run.status, st.run.terminal))


def _upload(runbook: str) -> tuple[str, str, str]:
    """(name, file name, text) of a runbook file to send; a bare name means the server's."""
    path = Path(runbook)
    if not path.is_file():
        if path.suffix or "/" in runbook:
            raise InputError(f"no runbook file {runbook}", hint="give a YAML or Markdown file")
        return runbook, "", ""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {runbook}: {exc}") from None
    return "", path.name, text


def _runbook_body(runbook: str) -> dict[str, Any]:
    """The deploy's runbook: a file's content (the server reads its name from it), or the
    name of one of the server's ``--runbooks``."""
    name, file, text = _upload(runbook)
    if not text:
        return {"runbook": name}
    return {"runbook": "", "file": file, "text": text}


def _vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--var {pair!r} is not NAME=VALUE", hint="e.g. --var replicas=3")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


@cli.command()
@click.argument("runbook")
@PLAN_ENV
@versions(required=False)
@VAR
@PLAN_JSON
@pass_remote
def plan(
    r: Remote,
    runbook: str,
    env: str | None,
    versions: tuple[str, ...],
    var: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show every step of RUNBOOK (a file, sent to the server, or a name of its --runbooks)."""
    api = r.api()
    version = ",".join(versions) or "<version>"
    body = {**_runbook_body(runbook), "environment": env, "version": version}
    p = api.post("/api/v1/plans", {**body, "vars": _vars(var)})
    header = f"Plan: {p['runbook']} {p['version']} -> {p['environment']} (not executed)"
    show.plan(p, header=header, as_json=as_json)


@cli.command()
@click.argument("runbook")
@DEPLOY_ENV
@versions(required=True)
@VAR
@WAIT
@click.option("--detach", is_flag=True, help="Start the run and print its id.")
@AS_JSON
@QUIET
@pass_remote
def deploy(
    r: Remote,
    runbook: str,
    env: str | None,
    versions: tuple[str, ...],
    var: tuple[str, ...],
    wait: bool,
    detach: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy RUNBOOK (a file, sent with the deploy, or a name of the server's --runbooks)."""
    api = r.api()
    version = ",".join(versions)
    body = {**_runbook_body(runbook), "environment": env, "version": version}
    started = api.post("/api/v1/runs", {**body, "vars": _vars(var)})
    run_id = int(started["run"])
    if detach:
        status = _detail(api, run_id).run.status
        click.echo(json.dumps({"id": run_id, "status": status}) if as_json else str(run_id))
        return
    _drive(api, run_id, wait=wait, quiet=quiet, as_json=as_json)


@cli.command()
@click.argument("run_id", type=int)
@WAIT
@AS_JSON
@QUIET
@pass_remote
def resume(r: Remote, run_id: int, wait: bool, as_json: bool, quiet: bool) -> None:
    """Continue RUN_ID (the server drives it) and follow it."""
    api = r.api()
    api.post(f"/api/v1/runs/{run_id}/resume")
    _drive(api, run_id, wait=wait, quiet=quiet, as_json=as_json)


@cli.command("rollback")
@ROLLBACK_TARGET
@AS_JSON
@QUIET
@pass_remote
def rollback_cmd(
    r: Remote,
    env: str,
    to_revision: int | None,
    runbook: str | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy an earlier revision of ENV again, through the same strategy (plan first)."""
    api = r.api()
    rp = api.get(
        f"/api/v1/environments/{env}/rollback-plan", runbook=runbook, to_revision=to_revision
    )
    header, revision = rp.pop("header"), rp.pop("revision")
    if dry_run or not as_json:
        show.plan(rp, header=header, as_json=as_json)
    if dry_run:
        if not as_json:
            click.echo("\ndry run: nothing was executed")
        return
    body = {"runbook": rp["runbook"], "to_revision": revision}
    run_id = int(api.post(f"/api/v1/environments/{env}/rollback", body)["run"])
    _drive(api, run_id, wait=False, quiet=quiet, as_json=as_json)


def _acted(answer: dict[str, Any]) -> None:
    click.echo(answer["message"])


@cli.command()
@click.argument("run_id", type=int)
@APPROVE_NOTE
@pass_remote
def approve(r: Remote, run_id: int, note: str) -> None:
    """Approve RUN_ID as the token's user."""
    _acted(r.api().post(f"/api/v1/runs/{run_id}/approve", {"note": note}))


@cli.command()
@click.argument("run_id", type=int)
@REJECT_NOTE
@pass_remote
def reject(r: Remote, run_id: int, note: str) -> None:
    """Reject RUN_ID's approval: it rolls back."""
    _acted(r.api().post(f"/api/v1/runs/{run_id}/reject", {"note": note}))


@cli.command()
@click.argument("run_id", type=int)
@ATTESTED_ITEMS
@pass_remote
def attest(r: Remote, run_id: int, items: tuple[int, ...], all_items: bool, note: str) -> None:
    """Attest checklist items (or a manual step) of RUN_ID as done by you."""
    if not items and not all_items:
        raise InputError("say which items: --item N (repeatable) or --all")
    body = {"note": note, "items": list(items) or None}
    _acted(r.api().post(f"/api/v1/runs/{run_id}/attest", body))


@cli.command()
@click.argument("run_id", type=int)
@click.argument("step")
@SETTLEMENT
@pass_remote
def settle(r: Remote, run_id: int, step: str, choice: str | None, orphan: str | None) -> None:
    """Decide what happened to STEP (name or number), in flight when its driver stopped."""
    if not choice:
        raise InputError("choose one of --rerun, --done, --rollback")
    body = {"step": step, "choice": str(choice), "orphan": orphan}
    _acted(r.api().post(f"/api/v1/runs/{run_id}/settle", body))


@cli.command()
@click.argument("run_id", type=int)
@ABORT_REASON
@pass_remote
def abort(r: Remote, run_id: int, reason: str) -> None:
    """Stop RUN_ID and roll back what it did (the server does it)."""
    _acted(r.api().post(f"/api/v1/runs/{run_id}/abort", {"reason": reason}))


@cli.command()
@click.argument("run_id", type=int, required=False)
@AS_JSON
@pass_remote
def status(r: Remote, run_id: int | None, as_json: bool) -> None:
    """Show active runs, or one run's steps."""
    api = r.api()
    if run_id is not None:
        show.run_status(_detail(api, run_id), as_json)
        return
    page = api.get("/api/v1/runs", active="true", limit=500)
    show.active([_detail(api, int(x["id"])) for x in page["runs"]], as_json)


@cli.command()
@click.option("--runbook", help="Only this runbook (by name).")
@click.option("-e", "--env", "env", help="Only this environment.")
@click.option("--limit", default=20, show_default=True)
@AS_JSON
@pass_remote
def history(r: Remote, runbook: str | None, env: str | None, limit: int, as_json: bool) -> None:
    """List past and present runs, newest first."""
    page = r.api().get("/api/v1/runs", runbook=runbook, environment=env, limit=limit)
    show.history([RunSummary.from_json(x) for x in page["runs"]], as_json)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--step", help="Only this step's output.")
@click.option("--follow", "-f", "live", is_flag=True, help="Print events until the run ends.")
@AS_JSON
@pass_remote
def logs(r: Remote, run_id: int, step: str | None, live: bool, as_json: bool) -> None:
    """Show the events and step output of RUN_ID."""
    api = r.api()
    if live:
        ended = False

        def on_event(e: dict[str, Any]) -> None:
            nonlocal ended
            if ended:  # as locally: the follow ends with the run's run.finished
                return
            ended = e["type"] == EventType.RUN_FINISHED
            if step is None or e["step"] == step:
                show.event(e, as_json)
                sys.stdout.flush()

        _follow_run(api, run_id, on_event, lambda: ended)
        return
    found = api.get(f"/api/v1/runs/{run_id}/logs", step=step)
    show.logs(found, _detail(api, run_id).run.failure, as_json)


@cli.command()
@click.option("--after", type=int, default=0, help="Only events after this event id.")
@click.option("--follow", "-f", "live", is_flag=True, help="Keep printing new events (Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_remote
def events(r: Remote, after: int, live: bool, as_json: bool) -> None:
    """Every run's events in commit order."""
    api = r.api()
    last = after

    def catch_up() -> None:
        nonlocal last
        for e in api.get("/api/v1/events", after=last, limit=1000):
            last = e["id"]
            show.event(e, as_json, with_run=True)
            sys.stdout.flush()

    catch_up()
    if live:
        for _ in api.wakeups(None, last, lambda: False):
            catch_up()


@cli.command()
@AS_JSON
@pass_remote
def environments(r: Remote, as_json: bool) -> None:
    """Each runbook's environments: live revision and version, and the run holding the lock."""
    found = r.api().get("/api/v1/environments/live")
    show.environments([EnvironmentInfo.from_json(e) for e in found], as_json)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Write to a file instead of stdout.")
@pass_remote
def report(r: Remote, run_id: int, fmt: str, output: str | None) -> None:
    """The sign-off sheet of RUN_ID."""
    text = r.api().text(f"/api/v1/runs/{run_id}/report", format=fmt)
    if output:
        Path(output).write_text(text)
        err(f"wrote {output}")
    else:
        click.echo(text)


@cli.group()
def audit() -> None:
    """Check the keyed, hash-chained audit trail (on the server, which holds the key)."""


@audit.command("verify")
@click.argument("run_id", type=int, required=False)
@AS_JSON
@pass_remote
def audit_verify(r: Remote, run_id: int | None, as_json: bool) -> None:
    """Check RUN_ID's chain (or every run's and the store-wide chain: admins only)."""
    verdict = r.api().get("/api/v1/audit/verify", run=run_id)
    ok, lines = bool(verdict["ok"]), list(verdict["lines"])
    if as_json:
        click.echo(json.dumps({"run": run_id, "ok": ok, "message": "\n".join(lines)}))
    else:
        click.echo("\n".join(lines) if lines else "no runs yet")
    sys.exit(0 if ok else 1)


@cli.command()
@AS_JSON
@pass_remote
def whoami(r: Remote, as_json: bool) -> None:
    """Who the server takes you for, and your roles there."""
    me = r.api().get("/api/v1/whoami")
    if as_json:
        click.echo(show.dumps(me))
        return
    roles = ", ".join(f"{g['role']}@{g['environment']}" for g in me["roles"]) or "no roles"
    click.echo(f"{me['name']} on {r.api().server}: {roles}")


@cli.command()
@click.argument("url")
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input (CI).")
@click.option(
    "--browser",
    is_flag=True,
    help="Get a token by confirming a code in the browser, where you are logged in "
    "(login link, token or your identity provider).",
)
def login(url: str, token_stdin: bool, browser: bool) -> None:
    """Log in to the runwright server at URL with an API token (`runwright users token NAME`
    there, or --browser); it is kept in $XDG_CONFIG_HOME/runwright/credentials (mode 0600)."""
    server = credentials.normalize(url)
    if browser:
        token = device_login(server, err)
    elif token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("API token", hide_input=True, err=True).strip()
    api = Api(server, token)
    try:
        me = api.get("/api/v1/whoami")
    finally:
        api.close()
    file = credentials.save(os.environ, server, token)
    roles = ", ".join(f"{g['role']}@{g['environment']}" for g in me["roles"]) or "no roles"
    click.echo(f"logged in to {server} as {me['name']} ({roles}); token kept in {file}")


@cli.command()
@click.argument("url", required=False)
def logout(url: str | None) -> None:
    """Forget the token of URL (default: the current server)."""
    login_ = credentials.current(os.environ, url)
    if login_ is None or not credentials.forget(os.environ, login_.server):
        raise InputError("not logged in", hint="runwright login URL")
    click.echo(f"logged out of {login_.server}")


COMMANDS = frozenset(cli.commands)
