"""Users, roles and tokens: who may look at or act on which environment.

Roles are granted per environment (``*`` for all): a viewer reads; a deployer deploys, resumes,
attests, settles, aborts and rolls back; an approver approves or rejects; an admin does all
of it and manages users. Tokens are random secrets shown once and stored as digests with an
expiry: ``api`` tokens for ``Authorization: Bearer``, ``login`` links used once, ``session``
cookies. The CLI (``runwright users``, ``runwright token``) and the web edge share these.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from runwright.app.runtime import Runtime
from runwright.engine.accounts import ANY_ENV, Accounts, Grant
from runwright.errors import InputError, RunwrightError

ROLES = ("viewer", "deployer", "approver", "admin")
DEPLOY_ACTIONS = frozenset({"deploy", "resume", "attest", "settle", "abort", "rollback"})
APPROVE_ACTIONS = frozenset({"approve", "reject"})
LOGIN_TTL = timedelta(minutes=30)
SESSION_TTL = timedelta(hours=12)
API_TTL = timedelta(days=30)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


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


def create_token(rt: Runtime, user: str, kind: str, ttl: timedelta, label: str = "") -> str:
    """A new secret for ``user``; only its digest is kept."""
    acc = accounts(rt)
    if not acc.exists(user):
        raise InputError(
            f"no user {user!r}", hint=f"add one: runwright users add {user} --role ..."
        )
    if ttl <= timedelta(0):
        raise InputError("a token's lifetime must be positive", hint="e.g. --expires 30d")
    secret = f"rw_{kind[0]}_" + secrets.token_urlsafe(32)
    now = rt.clock.now()
    acc.add_token(user, kind, secret, now=now, expires=now + ttl, label=label)
    return secret


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


def first_admin(rt: Runtime, name: str) -> str | None:
    """On a store with no users, an admin and a one-time login secret for it; else None."""
    acc = accounts(rt)
    if acc.user_count():
        return None
    add_user(rt, name, ["admin"], [])
    return create_token(rt, name, "login", timedelta(hours=24), "first start")


def allowed(grants: Iterable[Grant], action: str, environment: str | None) -> bool:
    """Whether grants permit ``action`` (read, deploy..., approve, admin) on ``environment``."""
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
