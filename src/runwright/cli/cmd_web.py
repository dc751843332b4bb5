"""``runwright serve``, ``runwright users`` and ``runwright token``: the web edge's commands.

Users and tokens live in the state store beside the runs, so the same ``--database-url``
gives a server and the commands that manage its users. Token secrets are printed once and
stored only as digests.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import click

from runwright.app.people import users
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.accounts import ANY_ENV, Grant
from runwright.errors import InputError
from runwright.model.durations import parse_duration


class _Ctx(Protocol):
    def runtime(self, *, quiet: bool = False) -> Runtime: ...

    def settings(self) -> Settings: ...


@click.command()
@click.option(
    "--listen", default="127.0.0.1:8400", show_default=True, help="HOST:PORT to serve on."
)
@click.option(
    "--runbooks",
    "runbooks",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Directory whose runbooks (YAML or Markdown) the server offers.",
)
@click.option("--read-only-public", is_flag=True, help="Let anyone read (never act) without login.")
@click.option("--oidc-issuer", help="OpenID Connect issuer URL, for login with your provider.")
@click.option("--oidc-client-id", help="This server's client id at the OIDC provider.")
@click.option(
    "--oidc-client-secret",
    envvar="RUNWRIGHT_OIDC_CLIENT_SECRET",
    default="",
    help="Env: RUNWRIGHT_OIDC_CLIENT_SECRET.",
)
@click.option(
    "--oidc-client-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the OIDC client secret from this file (never on the command line, where "
    "every user of the host can see it with ps).",
)
@click.option(
    "--public-url",
    default="",
    help="The URL users reach the server by, e.g. https://deploy.example.com behind a proxy.",
)
@click.option(
    "--cookie-secure/--no-cookie-secure",
    default=None,
    help="Send cookies only over HTTPS. Default: on when --public-url is https.",
)
@click.option(
    "--oidc-unknown",
    type=click.Choice(users.OIDC_UNKNOWN),
    default="refuse",
    show_default=True,
    help="First login by an identity no admin linked: refuse it, or make it a new viewer.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Supervise N `runwright worker` processes; web deploys are queued for them.",
)
@click.option(
    "--slack-signing-secret",
    envvar="RUNWRIGHT_SLACK_SIGNING_SECRET",
    default="",
    help="The Slack app's signing secret: turns on Approve/Reject buttons' callback "
    "(/api/v1/slack/interactions). Env: RUNWRIGHT_SLACK_SIGNING_SECRET.",
)
@click.option(
    "--accept-sent-runbooks",
    is_flag=True,
    envvar="RUNWRIGHT_ACCEPT_SENT_RUNBOOKS",
    help="Let deployers send runbook files with a deploy (`runwright deploy FILE --server`); "
    "without it only --runbooks run. A runbook is commands your workers run.",
)
@click.pass_obj
def serve(
    c: _Ctx,
    listen: str,
    runbooks: Path,
    read_only_public: bool,
    oidc_issuer: str | None,
    oidc_client_id: str | None,
    oidc_client_secret: str,
    oidc_client_secret_file: Path | None,
    public_url: str,
    cookie_secure: bool | None,
    oidc_unknown: str,
    workers: int,
    slack_signing_secret: str,
    accept_sent_runbooks: bool,
) -> None:
    """The dashboard and REST API (/api/v1): live runs, approvals, charts.

    On a store with no users it creates an admin (you) and prints a one-time login link."""

    def run() -> None:
        from runwright.web.serve import read_secret_file, serve_forever

        secret = oidc_client_secret
        if oidc_client_secret_file is not None:
            secret = read_secret_file(oidc_client_secret_file, "--oidc-client-secret-file")
        sys.exit(
            serve_forever(
                c.settings(),
                listen,
                runbooks,
                read_only_public,
                oidc_issuer,
                oidc_client_id,
                secret,
                workers,
                slack_signing_secret,
                accept_sent_runbooks,
                oidc_unknown=oidc_unknown,
                public_url=public_url,
                cookie_secure=cookie_secure,
            )
        )

    run()


@click.group("users")
def users_group() -> None:
    """Users of the web edge and their roles per environment."""


@users_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(users.ROLES),
    help="Repeatable.",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    help="Environment the roles apply to (repeatable; default: all).",
)
@click.pass_obj
def users_add(c: _Ctx, name: str, roles: tuple[str, ...], envs: tuple[str, ...]) -> None:
    """Add NAME (or give NAME more roles)."""

    def run() -> None:
        grants = users.add_user(c.runtime(quiet=True), name, roles, envs)
        what = ", ".join(
            f"{g.role} in {'every environment' if g.environment == '*' else g.environment}"
            for g in grants
        )
        click.echo(f"{name}: {what}")

    run()


@users_group.command("list")
@click.pass_obj
def users_list(c: _Ctx) -> None:
    """Every user and their roles."""

    def run() -> None:
        for name, grants in users.accounts(c.runtime(quiet=True)).list_users():
            roles = ", ".join(f"{g.role}@{g.environment}" for g in grants) or "no roles"
            click.echo(f"{name}: {roles}")

    run()


@users_group.command("token")
@click.argument("name")
@click.option("--env", "env", help="Only this environment (default: every one NAME may use).")
@click.option("--role", type=click.Choice(users.ROLES), help="Only this role (default: all).")
@click.option("--expires", default="30d", show_default=True, help="Lifetime, e.g. 12h, 90d.")
@click.option("--label", default="", help="What the token is for, e.g. 'ci staging'.")
@click.pass_obj
def users_token(
    c: _Ctx, name: str, env: str | None, role: str | None, expires: str, label: str
) -> None:
    """Print a new API token of NAME once (e.g. for CI), scoped to one role and environment.

    The token never carries more than NAME holds; only its digest is stored."""

    def run() -> None:
        if env and not role:
            raise InputError("--env needs --role", hint="e.g. --env staging --role deployer")
        scope = Grant(role, env or ANY_ENV) if role else None
        rt = c.runtime(quiet=True)
        click.echo(users.create_token(rt, name, "api", _ttl(expires), label, scope))

    run()


@users_group.command("link-oidc")
@click.argument("name")
@click.option("--issuer", required=True, help="The identity provider's issuer URL.")
@click.option("--subject", required=True, help="The account's 'sub' claim at that provider.")
@click.pass_obj
def users_link_oidc(c: _Ctx, name: str, issuer: str, subject: str) -> None:
    """Let the identity provider's account (ISSUER, SUBJECT) log in as NAME."""

    def run() -> None:
        users.link_oidc(c.runtime(quiet=True), name, issuer, subject)
        click.echo(f"{name}: linked to {subject!r} at {issuer}")

    run()


@users_group.command("tokens")
@click.argument("name")
@click.pass_obj
def users_tokens(c: _Ctx, name: str) -> None:
    """NAME's API tokens: id, scope, label and expiry (never the secret)."""

    def run() -> None:
        rows = users.accounts(c.runtime(quiet=True)).tokens_of(name)
        if not rows:
            click.echo(f"{name} has no API tokens")
        for t in rows:
            scope = f"{t.scope_role}@{t.scope_env}" if t.scope_role else "all roles"
            click.echo(f"{t.id:>5}  {scope:<22} expires {t.expires_at:%Y-%m-%d %H:%M}  {t.label}")

    run()


@users_group.command("revoke-token")
@click.argument("token_id", type=int)
@click.pass_obj
def users_revoke_token(c: _Ctx, token_id: int) -> None:
    """Revoke API token TOKEN_ID at once (ids: runwright users tokens NAME)."""

    def run() -> None:
        owner = users.revoke_token(c.runtime(quiet=True), token_id)
        click.echo(f"token {token_id} of {owner} revoked")

    run()


@users_group.command("link-slack")
@click.argument("name")
@click.argument("slack_id")
@click.pass_obj
def users_link_slack(c: _Ctx, name: str, slack_id: str) -> None:
    """Count Approve/Reject button presses of Slack member SLACK_ID as NAME's decisions."""

    def run() -> None:
        users.link_slack(c.runtime(quiet=True), name, slack_id)
        click.echo(f"Slack user {slack_id} decides as {name}")

    run()


def _ttl(expires: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(expires))
    except ValueError as exc:
        raise InputError(f"--expires {expires!r}: {exc}", hint="e.g. 12h or 30d") from None


@click.group("token")
def token_group() -> None:
    """Tokens for the REST API (Authorization: Bearer) and one-time login links."""


@token_group.command("create")
@click.option("--user", "user", help="Whose token (default: you).")
@click.option("--expires", default="30d", show_default=True, help="Lifetime, e.g. 12h, 30d.")
@click.option("--login", is_flag=True, help="A one-time login link instead of an API token.")
@click.option(
    "--url", default="http://127.0.0.1:8400", show_default=True, help="Server URL for --login."
)
@click.option("--label", default="", help="What the token is for.")
@click.pass_obj
def token_create(
    c: _Ctx, user: str | None, expires: str, login: bool, url: str, label: str
) -> None:
    """Print a new token once; only its digest is stored."""

    def run() -> None:
        rt = c.runtime(quiet=True)
        ttl = _ttl(expires)
        who = user or rt.settings.user
        secret = users.create_token(rt, who, "login" if login else "api", ttl, label)
        click.echo(f"{url.rstrip('/')}/login?token={secret}" if login else secret)

    run()


COMMANDS = [serve, users_group, token_group]
