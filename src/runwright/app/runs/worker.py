"""Team scale: ``deploy --detach`` queues a run in the store; ``runwright worker`` drives them.

A worker loops: claim the oldest claimable run (engine/claims.py), drive it from its journal
like ``resume`` does, claim the next. It heartbeats its ``workers`` row on the injected clock
and, on PostgreSQL, sleeps on LISTEN ``runwright_queue`` (a queued run NOTIFYs) between polls;
the poll is what notices leases that expired. When the store refuses its write because another
worker took its run over (fencing), its step in flight has been stopped and it exits (3): a
process that was paused past its lease never acts again; its supervisor starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from runwright.app.notifications.redelivery import keep_retrying
from runwright.app.plans.expansion import expand
from runwright.app.runs import runs
from runwright.app.runtime.product import prepare
from runwright.app.runtime.runtime import Runtime
from runwright.engine.claims import QUEUE_CHANNEL, Claim, claim_next
from runwright.engine.feed import waker_for
from runwright.engine.workers import heartbeat, live_others, register, stopped
from runwright.errors import BlockedError, FencedError, RunwrightError
from runwright.model.loader import Runbook

log = logging.getLogger(__name__)


def queue(
    rt: Runtime,
    path: str | Path,
    env: str | None,
    version: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    runbook: Runbook | None = None,
) -> int:
    """Check the deploy as ``deploy`` would, then leave it queued for a worker; its id.
    ``runbook``, when given, is the already loaded (e.g. uploaded) content of ``path``."""
    book = runbook or rt.load(path)
    env_name, environment = runs.admit(rt, book, env, version)
    prepared = prepare(rt.store, book, env_name, version)
    steps = expand(book, env_name, environment, prepared.touched)
    return runs.create_run(
        rt,
        book,
        env_name,
        version,
        overrides or {},
        steps,
        "deploy",
        prepared.previous,
        prepared.params(),
        queued=True,
    )


@contextmanager
def _heartbeating(rt: Runtime, worker: str) -> Iterator[None]:
    done = threading.Event()

    def beat() -> None:
        while not done.wait(rt.settings.lease_ttl / 3):
            try:
                heartbeat(rt.store, worker, now=rt.clock.now())
            except RunwrightError as exc:
                log.warning("worker heartbeat failed: %s", exc)

    thread = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


async def run_worker(
    rt: Runtime,
    *,
    poll: float = 1.0,
    idle_exit: float | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Claim and drive runs until idle for ``idle_exit`` seconds (never, by default); the
    exit code: 0 idle, 3 fenced (another worker took a run of ours over). Stopped by a
    signal (the edge's SIGTERM handler raises SystemExit, or the loop cancels it), it
    records that it stopped before the exception goes on."""
    worker = rt.settings.owner
    ttl = rt.settings.lease_ttl
    if rt.settings.database_url.startswith("sqlite"):
        others = live_others(rt.store, worker, since=rt.clock.now() - timedelta(seconds=ttl))
        if others:
            raise BlockedError(
                f"another worker ({others[0]}) already serves this SQLite store",
                hint="SQLite takes one worker; use PostgreSQL (--database-url) for several "
                f"(a worker that died counts as gone {ttl:g}s after its last heartbeat)",
            )
    register(rt.store, worker, host=rt.settings.hostname, pid=os.getpid(), now=rt.clock.now())
    say(f"worker {worker} started (lease TTL {ttl:g}s)")
    waker = await waker_for(rt.store.engine, QUEUE_CHANNEL, rt.clock.sleep)
    idle_since = rt.clock.now()
    redeliver = asyncio.create_task(keep_retrying(rt))
    try:
        with _heartbeating(rt, worker):
            while True:
                claim = claim_next(rt.store, worker, now=rt.clock.now(), ttl=ttl)
                if claim is None:
                    idle = (rt.clock.now() - idle_since).total_seconds()
                    if idle_exit is not None and idle >= idle_exit:
                        stopped(rt.store, worker, now=rt.clock.now(), note="idle")
                        return 0
                    await waker.wait(poll)
                    continue
                code = await _drive(rt, claim, worker, say)
                if code is not None:
                    return code
                idle_since = rt.clock.now()
    except (SystemExit, KeyboardInterrupt, asyncio.CancelledError):
        with contextlib.suppress(RunwrightError):
            stopped(rt.store, worker, now=rt.clock.now(), note="terminated")
        raise
    finally:
        redeliver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await redeliver
        await waker.close()


async def _drive(rt: Runtime, claim: Claim, worker: str, say: Callable[[str], None]) -> int | None:
    how = (
        f"took over run {claim.run_id} from {claim.previous or 'no process'}"
        if (claim.takeover)
        else f"claimed run {claim.run_id}"
    )
    say(f"worker {worker}: {how} (epoch {claim.epoch})")
    try:
        final = await runs.drive_claimed(rt, claim.run_id)
    except FencedError as exc:
        say(f"worker {worker}: {exc.message}; stopping")
        with contextlib.suppress(RunwrightError):
            stopped(rt.store, worker, now=rt.clock.now(), note=exc.message)
        return FencedError.exit_code
    except RunwrightError as exc:
        say(f"worker {worker}: run {claim.run_id}: {exc}")
        return None
    say(f"worker {worker}: run {claim.run_id} {final.status}")
    return None
