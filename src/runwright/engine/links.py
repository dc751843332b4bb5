"""Slack identities and Slack requests already seen: what approving from Slack stands on.

A Slack button press names a Slack user id, not a runwright user: ``slack_links`` says whose
decision it is (``runwright users link-slack bob U123``), and an id nobody linked decides
nothing. ``slack_seen`` holds the digest of every signed interaction the server accepted;
the insert is the check, so two servers behind one balancer cannot both accept one replay.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from runwright.engine.accounts import slack_links, slack_seen


class SlackLinks:
    """SQL for Slack user links and the replay guard, on the run store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def link(self, slack_id: str, user: str, *, by: str, now: datetime) -> None:
        """Link ``slack_id`` to ``user`` (replacing an earlier link of that Slack id)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(slack_links).where(slack_links.c.slack_id == slack_id))
            conn.execute(
                sa.insert(slack_links).values(
                    slack_id=slack_id, user=user, linked_at=now, linked_by=by
                )
            )

    def user_of(self, slack_id: str) -> str | None:
        query = sa.select(slack_links.c.user).where(slack_links.c.slack_id == slack_id)
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return str(row[0]) if row else None

    def first_time(self, signature: str, *, now: datetime, forget_before: datetime) -> bool:
        """Record a signed request; False if it was seen before (a replay). Digests older
        than ``forget_before`` are dropped: their timestamps are refused as stale anyway."""
        key = hashlib.sha256(signature.encode()).hexdigest()
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(slack_seen).where(slack_seen.c.at < forget_before))
                conn.execute(sa.insert(slack_seen).values(digest=key, at=now))
        except IntegrityError:
            return False
        return True
