"""Users, roles and tokens: who may look at or act on which environment.

Roles are granted per environment (``*`` for all): a viewer reads; a deployer deploys, resumes,
attests, settles, aborts and rolls back; an approver approves or rejects; an admin does all
of it and manages users. Tokens are random secrets shown once and stored as digests with an
expiry: ``api`` tokens for ``Authorization: Bearer``, ``login`` links used once, ``session``
cookies. An API token may be scoped to one role in one environment (a CI job's token deploys
to staging and nothing else); it never carries more than its user holds, and is revoked by
id. The CLI (``runwright users``, ``runwright token``) and the web edge share these.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from runwright.app.runtime.runtime import Runtime
from runwright.engine.accounts import ANY_ENV, Accounts, Grant
from runwright.engine.links import SlackLinks
from runwright.errors import InputError, RunwrightError

ROLES = ("viewer", "deployer", "approver", "admin")
DEPLOY_ACTIONS = frozenset({"deploy", "resume", "attest", "settle", "abort", "rollback"})
APPROVE_ACTIONS = frozenset({"approve", "reject"})
LOGIN_TTL = timedelta(minutes=30)
SESSION_TTL = timedelta(hours=12)
API_TTL = timedelta(days=30)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class AuthError(RunwrightError):
    """No valid credential: unknown, expired or already used."""

    exit_code = 2
    http_status = 401


class Forbidden(RunwrightError):
    """A known user whose roles do not allow the action."""

    exit_code = 2
    http_status = 403


def accounts(rt: Runtime) -> Accounts:
    return Accounts(rt.store.engine)


def add_user(rt: Runtime, name: str, roles: Iterable[str], envs: Iterable[str]) -> list[Grant]:
    if not _NAME.match(name):
        raise InputError(
            f"user name {name!r} is not usable",
            hint="letters, digits and . _ @ + - (at most 100), starting with a letter or digit",
        )
    roles = list(roles)
    for role in roles:
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}", hint="roles: " + ", ".join(ROLES))
    grants = [Grant(r, e) for r in roles for e in (list(envs) or [ANY_ENV])]
    accounts(rt).add_user(name, grants, by=rt.settings.user, now=rt.clock.now())
    return grants


def create_token(
    rt: Runtime, user: str, kind: str, ttl: timedelta, label: str = "", scope: Grant | None = None
) -> str:
    """A new secret for ``user``; only its digest is kept. ``scope`` narrows an API token to
    one role in one environment: it never grants more than the user holds."""
    acc = accounts(rt)
    if not acc.exists(user):
        raise InputError(
            f"no user {user!r}", hint=f"add one: runwright users add {user} --role ..."
        )
    if ttl <= timedelta(0):
        raise InputError("a token's lifetime must be positive", hint="e.g. --expires 30d")
    if scope is not None:
        _check_scope(acc.grants(user), user, scope)
    secret = f"rw_{kind[0]}_" + secrets.token_urlsafe(32)
    now = rt.clock.now()
    acc.add_token(user, kind, secret, now=now, expires=now + ttl, label=label, scope=scope)
    return secret


def _check_scope(grants: list[Grant], user: str, scope: Grant) -> None:
    if scope.role not in ROLES:
        raise InputError(f"unknown role {scope.role!r}", hint="roles: " + ", ".join(ROLES))
    if not scoped(grants, scope):
        where = "every environment" if scope.environment == ANY_ENV else scope.environment
        raise InputError(
            f"{user} has no {scope.role} role in {where}, so no token can carry it",
            hint=f"grant it first: runwright users add {user} --role {scope.role} ...",
        )


def scoped(grants: Iterable[Grant], scope: Grant | None) -> list[Grant]:
    """What a token scoped to ``scope`` may do: the user's grants narrowed to that role and
    environment (an admin grant covers any role); all of them when the token is unscoped."""
    grants = list(grants)
    if scope is None:
        return grants
    out = []
    for g in grants:
        role_ok = g.role in (scope.role, "admin")
        env_ok = g.environment == ANY_ENV or g.environment == scope.environment
        if role_ok and env_ok:
            out.append(Grant(scope.role, scope.environment))
    return out[:1]


def role_for(action: str) -> str:
    """The least role allowing ``action``: what a refusal tells the user they lack."""
    if action == "read":
        return "viewer"
    if action in DEPLOY_ACTIONS:
        return "deployer"
    if action in APPROVE_ACTIONS:
        return "approver"
    return "admin"


def token_scope(rt: Runtime, secret: str) -> Grant | None:
    """The role and environment an API token is narrowed to, or None (all the user's)."""
    row = accounts(rt).find_token(secret, ("api",))
    if row is None or row.scope_role is None:
        return None
    return Grant(row.scope_role, row.scope_env or ANY_ENV)


def revoke_token(rt: Runtime, token_id: int) -> str:
    """Delete an API token by its id (``runwright users tokens USER`` lists them)."""
    owner = accounts(rt).revoke_id(token_id)
    if owner is None:
        raise InputError(f"no token {token_id}", hint="list them with: runwright users tokens USER")
    return owner


def link_slack(rt: Runtime, user: str, slack_id: str) -> None:
    """Decisions taken with Slack buttons by ``slack_id`` count as ``user``'s."""
    if not accounts(rt).exists(user):
        raise InputError(
            f"no user {user!r}", hint=f"add one: runwright users add {user} --role ..."
        )
    if not _SLACK_ID.match(slack_id):
        raise InputError(
            f"{slack_id!r} is not a Slack user id",
            hint="a member id such as U0123ABCD (Slack: profile -> ... -> Copy member ID)",
        )
    SlackLinks(rt.store.engine).link(slack_id, user, by=rt.settings.user, now=rt.clock.now())


def authenticate(rt: Runtime, secret: str, kinds: tuple[str, ...]) -> str:
    """The user a live token belongs to; AuthError if unknown, expired or used."""
    acc = accounts(rt)
    row = acc.find_token(secret, kinds)
    if row is None:
        raise AuthError("unknown token", hint="create one with: runwright token create --user NAME")
    if row.expires_at <= rt.clock.now():
        raise AuthError("token expired", hint="create a new one with: runwright token create")
    if row.kind == "login" and (
        row.used_at is not None or not acc.use_once(row.id, rt.clock.now())
    ):
        raise AuthError("this login link was already used", hint="ask for a new link")
    return row.user


OIDC_UNKNOWN = ("refuse", "viewer")


def link_oidc(rt: Runtime, user: str, issuer: str, subject: str) -> None:
    """Let the identity provider's account (issuer, subject) log in as ``user``."""
    if not accounts(rt).exists(user):
        raise InputError(
            f"no user {user!r}", hint=f"add one: runwright users add {user} --role ..."
        )
    if not issuer.strip() or not subject.strip():
        raise InputError(
            "an OIDC identity needs both --issuer and --subject",
            hint="the issuer URL and the 'sub' claim of the user's ID token",
        )
    accounts(rt).link_oidc(issuer, subject, user, by=rt.settings.user, now=rt.clock.now())


def oidc_login(rt: Runtime, issuer: str, subject: str, suggested: str, unknown: str) -> str:
    """The user the identity (issuer, subject) is linked to. An unlinked one is refused, or
    with ``unknown == "viewer"`` becomes a new viewer of every environment, under a name of
    its own: never an existing user's, whatever name or e-mail the provider asserts."""
    acc = accounts(rt)
    linked = acc.oidc_user(issuer, subject)
    if linked is not None:
        return linked
    if unknown != "viewer":
        raise Forbidden(
            f"this identity ({subject!r} at {issuer}) is not linked to a runwright user",
            hint="an admin links it: runwright users link-oidc USER --issuer ISSUER "
            "--subject SUBJECT",
        )
    name = suggested if _NAME.match(suggested) and not acc.exists(suggested) else ""
    if not name:
        name = "oidc-" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:12]
    if not acc.exists(name):
        add_user(rt, name, ["viewer"], [])
    acc.link_oidc(issuer, subject, name, by="oidc first login", now=rt.clock.now())
    return name


def first_admin(rt: Runtime, name: str) -> str | None:
    """On a store with no users, an admin and a one-time login secret for it; else None."""
    acc = accounts(rt)
    if acc.user_count():
        return None
    add_user(rt, name, ["admin"], [])
    return create_token(rt, name, "login", timedelta(hours=24), "first start")


def readable(grants: Iterable[Grant]) -> frozenset[str] | None:
    """The environments ``grants`` let a user read (any role reads where it is granted);
    None means every environment (a ``*`` grant)."""
    names: set[str] = set()
    for g in grants:
        if g.environment == ANY_ENV:
            return None
        names.add(g.environment)
    return frozenset(names)


def allowed(grants: Iterable[Grant], action: str, environment: str | None) -> bool:
    """Whether grants permit ``action`` (read, deploy..., approve, admin) on ``environment``.

    ``read`` without an environment only says the user may open the dashboard at all: every
    run, environment, event and report they are then shown is of an environment in
    ``readable(grants)``, and one outside it answers as if it did not exist."""
    for g in grants:
        if environment is not None and g.environment not in (ANY_ENV, environment):
            continue
        if environment is None and action != "read" and g.environment != ANY_ENV:
            continue
        if g.role == "admin":
            return True
        if action == "read":
            return True
        if g.role == "deployer" and action in DEPLOY_ACTIONS:
            return True
        if g.role == "approver" and action in APPROVE_ACTIONS:
            return True
    return False
