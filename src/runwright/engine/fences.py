"""Leases in the store: which process drives a run, under which fencing epoch.

Taking a lease raises the run's epoch; from then on every journal write of this process to
the run checks it (``Journal._check_fence``), so a driver that was taken over cannot write.
engine/leases.py judges whether a lease's holder is still alive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.rows import ts, utc
from runwright.engine.storebase import StoreBase
from runwright.errors import LockedError, NotFoundError


class Fences(StoreBase):
    """Acquiring, renewing and releasing a run's lease."""

    def acquire_lease(
        self,
        run_id: int,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        owner_dead: Callable[[str], bool],
    ) -> int:
        """Become the run's driver under a new fencing epoch (returned); from now on every
        write of this store to the run checks that epoch."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.runs.c.lease_owner, t.runs.c.lease_expires, t.runs.c.lease_epoch)
                .where(t.runs.c.id == run_id)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"no run {run_id}")
            holder, expires = row[0], utc(row[1])
            if holder and holder != owner and expires and expires > now and not owner_dead(holder):
                raise LockedError(
                    f"run {run_id} is being driven by {holder} (lease until {ts(expires)})",
                    hint="wait for that process, or run this again after the lease expires",
                )
            epoch = int(row[2] or 0) + 1
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    lease_owner=owner,
                    lease_expires=now + timedelta(seconds=ttl),
                    lease_epoch=epoch,
                )
            )
        self.fences[run_id] = (owner, epoch)
        return epoch

    def renew_lease(self, run_id: int, owner: str, *, now: datetime, ttl: float) -> bool:
        """Extend the lease; False when this process no longer holds it (at its epoch)."""
        where = [t.runs.c.id == run_id, t.runs.c.lease_owner == owner]
        fence = self.fences.get(run_id)
        if fence is not None:
            where.append(t.runs.c.lease_epoch == fence[1])
        with self._tx() as conn:
            result = conn.execute(
                sa.update(t.runs).where(*where).values(lease_expires=now + timedelta(seconds=ttl))
            )
        return bool(result.rowcount)

    def release_lease(self, run_id: int, owner: str) -> None:
        where = [t.runs.c.id == run_id, t.runs.c.lease_owner == owner]
        fence = self.fences.pop(run_id, None)
        if fence is not None:
            where.append(t.runs.c.lease_epoch == fence[1])
        with self._tx() as conn:
            conn.execute(
                sa.update(t.runs).where(*where).values(lease_owner=None, lease_expires=None)
            )
