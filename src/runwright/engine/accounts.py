"""Who may use the web edge: users, their roles per environment, and hashed tokens.

Kept apart from the run store because nothing in a run depends on it, and so that a token's
secret never reaches the database: only its SHA-256 digest is stored, with an expiry, and a
one-time login link is marked used in the same transaction that redeems it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from runwright.engine.tables import metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.PrimaryKeyConstraint("user", "role", "environment"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("scope_env", sa.String(100)),
    sa.Column("scope_role", sa.String(20)),
)

slack_links = sa.Table(
    "slack_links",
    metadata,
    sa.Column("slack_id", sa.String(100), primary_key=True),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("linked_by", sa.String(200), nullable=False),
)

slack_seen = sa.Table(
    "slack_seen",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
"""Slack member ids whose button presses decide as a runwright user (``engine/links.py``)."""

device_logins = sa.Table(
    "device_logins",
    metadata,
    sa.Column("device_digest", sa.String(64), primary_key=True),
    sa.Column("user_code", sa.String(20), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_by", sa.String(200)),
)
"""Pending ``runwright login --browser`` requests: the terminal's secret only as a digest."""

oidc_identities = sa.Table(
    "oidc_identities",
    metadata,
    sa.Column("issuer", sa.String(500), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("user", sa.String(200), nullable=False, index=True),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("linked_by", sa.String(200), nullable=False),
    sa.PrimaryKeyConstraint("issuer", "subject"),
)
"""An identity provider's account (issuer, subject) is a runwright user only through a row
here, written by an admin (or by the first login when the server lets unknown subjects in as
viewers); never by a name or an e-mail address the provider merely asserts."""

ANY_ENV = "*"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class Grant:
    role: str
    environment: str


@dataclass(frozen=True)
class TokenRow:
    id: int
    user: str
    kind: str
    label: str
    expires_at: datetime
    used_at: datetime | None
    scope_env: str | None = None
    scope_role: str | None = None


class Accounts:
    """SQL for users, grants and tokens, on the run store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def user_count(self) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def exists(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return (
                conn.execute(sa.select(users.c.name).where(users.c.name == name)).first()
                is not None
            )

    def add_user(self, name: str, grants: list[Grant], *, by: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is None:
                conn.execute(sa.insert(users).values(name=name, created_at=now, created_by=by))
            for g in grants:
                conn.execute(
                    sa.delete(user_roles).where(
                        user_roles.c.user == name,
                        user_roles.c.role == g.role,
                        user_roles.c.environment == g.environment,
                    )
                )
                conn.execute(
                    sa.insert(user_roles).values(user=name, role=g.role, environment=g.environment)
                )

    def grants(self, name: str) -> list[Grant]:
        query = sa.select(user_roles.c.role, user_roles.c.environment).where(
            user_roles.c.user == name
        )
        with self.engine.begin() as conn:
            return [Grant(r[0], r[1]) for r in conn.execute(query)]

    def list_users(self) -> list[tuple[str, list[Grant]]]:
        with self.engine.begin() as conn:
            names = [r[0] for r in conn.execute(sa.select(users.c.name).order_by(users.c.name))]
        return [(n, self.grants(n)) for n in names]

    def add_token(
        self,
        user: str,
        kind: str,
        secret: str,
        *,
        now: datetime,
        expires: datetime,
        label: str,
        scope: Grant | None = None,
    ) -> int:
        """Store a token's digest; ``scope`` narrows an API token to one role in one
        environment (``*`` for any environment)."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    sa.insert(tokens)
                    .values(
                        user=user,
                        kind=kind,
                        digest=digest(secret),
                        label=label,
                        created_at=now,
                        expires_at=expires,
                        scope_env=scope.environment if scope else None,
                        scope_role=scope.role if scope else None,
                    )
                    .returning(tokens.c.id)
                ).scalar_one()
            )

    def find_token(self, secret: str, kinds: tuple[str, ...]) -> TokenRow | None:
        query = sa.select(tokens).where(tokens.c.digest == digest(secret), tokens.c.kind.in_(kinds))
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return TokenRow(
            row["id"],
            row["user"],
            row["kind"],
            row["label"],
            _utc(row["expires_at"]),
            _utc(row["used_at"]) if row["used_at"] else None,
            row["scope_env"],
            row["scope_role"],
        )

    def use_once(self, token_id: int, now: datetime) -> bool:
        """Mark a one-time token used; False if another request redeemed it first."""
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(tokens)
                .where(tokens.c.id == token_id, tokens.c.used_at.is_(None))
                .values(used_at=now)
            )
            return bool(done.rowcount == 1)

    def revoke(self, secret: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(tokens).where(tokens.c.digest == digest(secret)))

    def tokens_of(self, user: str) -> list[TokenRow]:
        """``user``'s API tokens, newest first (secrets are never stored, only digests)."""
        query = (
            sa.select(tokens)
            .where(tokens.c.user == user, tokens.c.kind == "api")
            .order_by(tokens.c.id.desc())
        )
        with self.engine.begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            TokenRow(
                r["id"],
                r["user"],
                r["kind"],
                r["label"],
                _utc(r["expires_at"]),
                _utc(r["used_at"]) if r["used_at"] else None,
                r["scope_env"],
                r["scope_role"],
            )  # fmt: skip
            for r in rows
        ]

    def revoke_id(self, token_id: int) -> str | None:
        """Delete token ``token_id``; whose it was, or None if there is no such token."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(tokens.c.user).where(tokens.c.id == token_id)).first()
            if row is None:
                return None
            conn.execute(sa.delete(tokens).where(tokens.c.id == token_id))
            return str(row[0])

    def link_oidc(self, issuer: str, subject: str, user: str, *, by: str, now: datetime) -> None:
        """Make (issuer, subject) log in as ``user`` (replacing an earlier link)."""
        key = (oidc_identities.c.issuer == issuer, oidc_identities.c.subject == subject)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(oidc_identities).where(*key))
            conn.execute(
                sa.insert(oidc_identities).values(
                    issuer=issuer, subject=subject, user=user, linked_at=now, linked_by=by
                )
            )

    def oidc_user(self, issuer: str, subject: str) -> str | None:
        query = sa.select(oidc_identities.c.user).where(
            oidc_identities.c.issuer == issuer, oidc_identities.c.subject == subject
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else str(row[0])
