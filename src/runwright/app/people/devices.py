"""``runwright login URL --browser``: a terminal gets a token by a person confirming in the
browser, where they are logged in (link, token or the team's OIDC provider).

It follows the OAuth device flow's shape (RFC 8628): the terminal asks the server for a
secret device code and a short user code, shows the person a page address with the user
code, and polls with its device code. The person opens the page while logged in, checks the
code is the one their terminal shows, and confirms; the terminal's next poll gets a new API
token of that person, once (the pending request is deleted in the same transaction), and
stores it like a pasted one. Only the device code's digest is kept, and a request not
confirmed within ten minutes is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from runwright.app.people import users
from runwright.app.people.users import API_TTL, AuthError
from runwright.app.runtime.runtime import Runtime
from runwright.engine.accounts import device_logins
from runwright.errors import InputError

DEVICE_TTL = timedelta(minutes=10)
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words, no 0/O or 1/I confusion


@dataclass(frozen=True)
class Started:
    device_code: str
    user_code: str
    expires_in: int


def _digest(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def start(rt: Runtime) -> Started:
    """A new pending login: the terminal's secret and the code the person confirms."""
    device_code = "rw_d_" + secrets.token_urlsafe(32)
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    user_code = f"{raw[:4]}-{raw[4:]}"
    now = rt.clock.now()
    with rt.store.engine.begin() as conn:
        conn.execute(sa.delete(device_logins).where(device_logins.c.expires_at < now))
        conn.execute(
            sa.insert(device_logins).values(
                device_digest=_digest(device_code),
                user_code=user_code,
                created_at=now,
                expires_at=now + DEVICE_TTL,
            )
        )
    return Started(device_code, user_code, int(DEVICE_TTL.total_seconds()))


def confirm(rt: Runtime, user_code: str, user: str) -> None:
    """``user`` (logged in to the web) lets the terminal showing ``user_code`` act as them."""
    d = device_logins.c
    now = rt.clock.now()
    with rt.store.engine.begin() as conn:
        done = conn.execute(
            sa.update(device_logins)
            .where(d.user_code == user_code.strip().upper(), d.approved_by.is_(None))
            .where(d.expires_at > now)
            .values(approved_by=user)
        )
    if done.rowcount != 1:
        raise InputError(
            f"no pending terminal login with code {user_code!r}",
            hint="it expired or was used: run runwright login URL --browser again",
        )


def redeem(rt: Runtime, device_code: str) -> tuple[str, str] | None:
    """(user, new API token) once the person confirmed; None while they have not. The
    delete is the check, so two polls at once cannot both get a token."""
    d = device_logins.c
    key = _digest(device_code)
    now = rt.clock.now()
    with rt.store.engine.begin() as conn:
        gone = conn.execute(
            sa.delete(device_logins)
            .where(d.device_digest == key, d.approved_by.is_not(None), d.expires_at > now)
            .returning(d.approved_by)
        ).first()
        pending = None
        if gone is None:
            pending = conn.execute(
                sa.select(d.expires_at).where(d.device_digest == key, d.approved_by.is_(None))
            ).first()
    if gone is None:
        if pending is None or _utc(pending.expires_at) <= now:
            raise AuthError(
                "this terminal login is unknown, expired or already used",
                hint="run runwright login URL --browser again",
            )
        return None
    user = str(gone.approved_by)
    return user, users.create_token(rt, user, "api", API_TTL, "runwright login --browser")
