"""Deliver a run's notifications by following its events: the event table is the one bus.

While a run is driven, ``Notifier.follow`` reads the run's committed events in order, maps
each to a subscription event (started, awaiting approval, succeeded, rolled back...) and
delivers it to every subscribed sink. Each (event, subscription) is claimed in the delivery
journal before it is sent and marked sent or failed after, so a notification goes out once
even when runwright is killed between an event and its message (``resume`` sends what was
not sent) or when several processes follow one run. Every delivery, and every failure, is
also an event in the run's audit chain. A failed delivery never fails the run unless its
subscription says ``required: true``: then the run is aborted and rolled back.

Deliveries stay off the release's path. Each attempt has one deadline for all of it
(connect, request, the whole answer), so a receiver that trickles or hangs costs at most
that; the follower is a task of its own, so steps never wait for it; when the run ends it
gets ``FLUSH_GRACE`` to send its last messages, and what is left (or failed) waits in the
journal with the time of its next attempt, backing off exponentially until it is delivered
or given up after ``GIVE_UP_AFTER`` attempts. Whichever runwright process runs next sends
it (``retry_due``). Only a ``required`` subscription keeps its retries inline: the run
waits for it by definition.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from runwright.app.runtime.messenger import build_sink
from runwright.app.runtime.product import stored
from runwright.engine.clock import Clock
from runwright.engine.deliveries import Deliveries, Delivery, DeliveryKey
from runwright.engine.feed import Cursor, Waker, read_after, waker_for
from runwright.engine.redact import Redactor
from runwright.engine.store import EventRow, RunRow, Store
from runwright.errors import InputError, NotifyError
from runwright.model.event_type import EventType
from runwright.model.loader import Runbook
from runwright.model.notify import Subscription
from runwright.model.status import DeliveryStatus, RunEvent, RunStatus
from runwright.model.templating import render, render_value
from runwright.notify.base import Delivered, Notice, Sink

log = logging.getLogger(__name__)
T = TypeVar("T")
FLUSH_GRACE = 0.5
"""Seconds a finished run waits for its last notifications before it returns."""
GIVE_UP_AFTER = 12
"""Attempts before a failing delivery is given up (about an hour of backoff at 1 s)."""
MAX_BACKOFF = 3600.0
BATCH = 500
STALE_SENDING = timedelta(minutes=2)
"""A delivery ``sending`` this long belongs to a process that died; it is sent again."""

FINISHED = {
    RunStatus.SUCCEEDED: RunEvent.SUCCEEDED,
    RunStatus.FAILED: RunEvent.FAILED,
    RunStatus.ROLLED_BACK: RunEvent.ROLLED_BACK,
    RunStatus.ABORTED: RunEvent.ABORTED,
}
BLOCKED = {
    RunStatus.AWAITING_APPROVAL: RunEvent.AWAITING_APPROVAL,
    RunStatus.AWAITING_ATTESTATION: RunEvent.AWAITING_ATTESTATION,
}


def classify(event: EventRow, step_kinds: Mapping[str, str]) -> RunEvent | None:
    """The subscription event an audit event stands for, if any."""
    if event.type == EventType.RUN_STARTED and event.data.get("from") == RunStatus.PENDING:
        return RunEvent.STARTED
    if event.type == EventType.STEP_BLOCKED:
        return BLOCKED.get(RunStatus(event.data["on"])) if event.data.get("on") in BLOCKED else None
    if event.type == EventType.STEP_FAILED and step_kinds.get(event.step or "") == "analysis":
        return RunEvent.ANALYSIS_FAILING
    if event.type == EventType.RUN_FINISHED:
        status = event.data.get("status")
        return FINISHED.get(RunStatus(status)) if status in FINISHED else None
    return None


def released(run: RunRow) -> str:
    """What a run releases: its version, or a product's services that change with theirs
    (``backend v3, frontend v3``)."""
    versions = stored(run.params)
    if versions is None:
        return run.version
    return ", ".join(f"{n} {versions.target[n]}" for n in versions.touched) or run.version


def default_text(kind: RunEvent, run: RunRow, event: EventRow) -> tuple[str, str]:
    """A title and a sentence for ``kind`` when the subscription has no template."""
    what = released(run)
    where = f"{run.runbook} {what} to {run.environment}"
    reason = str(event.data.get("error") or event.data.get("summary") or run.failure or "")
    texts = {
        RunEvent.STARTED: f"{run.initiator} started deploying {what} to {run.environment}.",
        RunEvent.AWAITING_APPROVAL: f"Run {run.id} waits for approval at '{event.step}'.",
        RunEvent.AWAITING_ATTESTATION: f"Run {run.id} waits for a person at '{event.step}'.",
        RunEvent.ANALYSIS_FAILING: f"Analysis '{event.step}' failed: {reason}",
        RunEvent.SUCCEEDED: f"{what} {'are' if ', ' in what else 'is'} live in {run.environment}.",
        RunEvent.FAILED: f"Run {run.id} failed: {reason}",
        RunEvent.ROLLED_BACK: f"{what} {'were' if ', ' in what else 'was'} rolled back in "
        f"{run.environment}: {reason}",
        RunEvent.ABORTED: f"Run {run.id} was aborted and rolled back: {reason}",
    }
    return f"{where}: {kind.value.replace('_', ' ')}", texts[kind]


@dataclass
class Notifier:
    """Follows one run's events and delivers what its subscriptions ask for."""

    store: Store
    clock: Clock
    runbook: Runbook
    environment: str
    variables: Mapping[str, Any]
    redactor: Redactor
    actor: str
    poll: float = 0.2
    crash_at: str | None = None
    retry_backoff: float = 1.0
    _cursors: dict[int, Cursor] = field(default_factory=dict)
    _seen: dict[int, int] = field(default_factory=dict)
    """Per run, the sequence number of the last event handled (the cursor reads ahead)."""
    _sinks: dict[str, Sink] = field(default_factory=dict)
    _stop: bool = False
    _following: int | None = None
    _woken: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        env = self.runbook.environments.get(self.environment)
        self.subscriptions: list[Subscription] = [
            *self.runbook.notify,
            *(env.notify if env else []),
        ]
        self.deliveries = Deliveries(self.store)

    @property
    def active(self) -> bool:
        return bool(self.subscriptions)

    def _sink(self, name: str) -> Sink:
        if name not in self._sinks:
            self._sinks[name] = build_sink(self.runbook, name, self.variables)
        return self._sinks[name]

    def _cursor(self, run_id: int) -> Cursor:
        if run_id not in self._cursors:
            self._cursors[run_id] = Cursor(run_id, 0)
        return self._cursors[run_id]

    async def pump(self, run_id: int) -> None:
        """Deliver every not yet delivered notification of ``run_id``'s events so far: the
        events after the run's cursor, read off the event loop, each taken once."""
        if not self.active:
            return
        cursor = self._cursor(run_id)
        while True:
            rows = await asyncio.to_thread(read_after, self.store.engine, cursor, BATCH)
            events = cursor.take(rows)
            if events:
                await self._notify(run_id, events)
            if len(rows) < BATCH:
                return

    async def _notify(self, run_id: int, events: Sequence[EventRow]) -> None:
        step_kinds = {s.name: s.kind for s in await asyncio.to_thread(self.store.steps, run_id)}
        for event in events:
            self._seen[run_id] = event.seq
            kind = classify(event, step_kinds)
            if kind is None:
                continue
            for index, sub in enumerate(self.subscriptions):
                if kind in sub.events:
                    await self._deliver(event, kind, index, sub)

    async def follow(self, run_id: int) -> None:
        """Pump (and retry what is due) whenever the run's events may have moved (NOTIFY on
        PostgreSQL, the poll interval on SQLite) until ``stop`` is called, then once more for
        the last events."""
        self._following = run_id
        waker = await waker_for(self.store.engine, sleep=self.clock.sleep) if self.active else None
        try:
            while not self._stop:
                await self.pump(run_id)
                await self.retry_due(run_id)
                await self._nap(waker)
        finally:
            if waker is not None:
                await waker.close()
        await self.pump(run_id)
        while await self.retry_due(run_id) or self._due_soon(run_id):
            await self.clock.sleep(self.poll / 4)

    def _due_soon(self, run_id: int) -> bool:
        """Whether a failed delivery of the run is due again within the flush grace (the
        run's end waits that long at most; ``alongside`` cancels the rest)."""
        due = self.deliveries.next_attempt(run_id) if self.active else None
        return due is not None and (due - self.clock.now()).total_seconds() <= FLUSH_GRACE

    async def retry_due(self, run_id: int) -> int:
        """Send again this run's failed deliveries whose next attempt has come (and those a
        dead process left ``sending``); returns how many were tried."""
        if not self.active:
            return 0
        now = self.clock.now()
        due = await asyncio.to_thread(self.deliveries.due, now, stale=STALE_SENDING, run_id=run_id)
        events = (
            {e.id: e for e in await asyncio.to_thread(self.store.events, run_id)} if due else {}
        )
        tried = 0
        for d in due:
            event = events.get(d.event_id)
            if event is None or not 0 <= d.subscription < len(self.subscriptions):
                continue
            sub = self.subscriptions[d.subscription]
            if sub.to != d.sink:
                continue
            tried += 1
            await self._deliver(event, RunEvent(d.event), d.subscription, sub, retry=d)
        return tried

    def stop(self) -> None:
        """End following: every notification the run's events call for that is not claimed
        yet is recorded as due now (so none is lost if the flush is cut short), then the
        follower is woken for its last pass."""
        self._stop = True
        self._woken.set()
        if self._following is not None and self.active:
            self._enqueue(self._following)

    def _enqueue(self, run_id: int) -> None:
        events = [e for e in self.store.events(run_id) if e.seq > self._seen.get(run_id, 0)]
        if not events:
            return
        step_kinds = {s.name: s.kind for s in self.store.steps(run_id)}
        run = self.store.run(run_id)
        for event in events:
            kind = classify(event, step_kinds)
            for index, sub in enumerate(self.subscriptions):
                if kind is not None and kind in sub.events:
                    key = DeliveryKey(
                        run.id, event.id, index, sub.to, run.runbook, run.environment, kind.value
                    )
                    now = self.clock.now()
                    due = now + timedelta(seconds=2 * FLUSH_GRACE)  # after this process's flush
                    self.deliveries.enqueue(key, now, "not sent when the run ended", due)

    async def _nap(self, waker: Waker | None) -> None:
        """Wait until new events may have committed (at most ``poll`` seconds), or less when
        ``stop`` is called."""
        nap = waker.wait(self.poll) if waker is not None else self.clock.sleep(self.poll)
        sleep = asyncio.ensure_future(nap)
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, woken):
                task.cancel()
            await asyncio.gather(sleep, woken, return_exceptions=True)

    async def aclose(self) -> None:
        for sink in self._sinks.values():
            await sink.aclose()
        self._sinks.clear()

    def _notice(self, run: RunRow, event: EventRow, kind: RunEvent, index: int) -> Notice:
        sub = self.subscriptions[index]
        title, text = default_text(kind, run, event)
        if sub.template:
            context = {
                **self.variables,
                "event": kind.value,
                "run": {"id": run.id, "status": run.status, "failure": run.failure or ""},
                "step": event.step or "",
                "reason": str(event.data.get("error") or run.failure or ""),
            }
            text = render(sub.template, context, where=f"notify[{index}].template")
        spec = self.runbook.sinks[sub.to]
        url = getattr(spec.settings(), "run_url", None)
        if url:
            url = str(render_value(url, {**self.variables, "run_id": run.id}))
        refs = self._refs(sub.to, run)
        return Notice(
            event=kind.value,
            run_id=run.id,
            runbook=run.runbook,
            environment=run.environment,
            version=self.redactor.text(run.version),
            actor=event.actor,
            title=self.redactor.text(title),
            text=self.redactor.text(text),
            key=f"runwright-{run.id}-{event.id}-{index}",
            status=run.status,
            url=url,
            details={"step": event.step} if event.step else {},
            refs=refs,
        )

    def _refs(self, sink: str, run: RunRow) -> dict[str, str]:
        if self.runbook.sinks[sink].kind == "status_page":
            return self.deliveries.latest_refs(sink=sink, scope=(run.runbook, run.environment))
        return self.deliveries.latest_refs(sink=sink, run_id=run.id)

    async def _deliver(
        self,
        event: EventRow,
        kind: RunEvent,
        index: int,
        sub: Subscription,
        retry: Delivery | None = None,
    ) -> None:
        run = self.store.run(event.run_id)
        key = DeliveryKey(run.id, event.id, index, sub.to, run.runbook, run.environment, kind.value)
        now = self.clock.now()
        before = (
            self.deliveries.reclaim(retry, now, stale=STALE_SENDING)
            if retry is not None
            else self.deliveries.claim(key, now)
        )
        if before is None:
            return
        if self.crash_at == f"notify:{kind.value}":
            os._exit(137)
        try:
            tries, error, retryable, delivered = await self._send(run, event, kind, index)
        except asyncio.CancelledError:  # the run ended and its grace is over: later, elsewhere
            now = self.clock.now()
            self.deliveries.finish(
                key, DeliveryStatus.FAILED, attempts=before, refs={},
                detail="interrupted: the run ended first", at=now, next_attempt_at=now,
            )  # fmt: skip
            raise
        attempts = before + tries
        status, retry_at = self._outcome(delivered, retryable, attempts, sub)
        self.deliveries.finish(
            key,
            status,
            attempts=attempts,
            refs=delivered.refs if delivered else {},
            detail=self.redactor.text(error or (delivered.detail if delivered else "")),
            at=self.clock.now(),
            next_attempt_at=retry_at,
        )
        self._journal(run, kind, sub, status, attempts, error, delivered, retry_at)

    def _outcome(
        self, delivered: Delivered | None, retryable: bool, attempts: int, sub: Subscription
    ) -> tuple[DeliveryStatus, datetime | None]:
        """Sent; failed, with the time of the next attempt (exponential backoff); or given up
        (not worth retrying, too many attempts, or a required one that failed inline)."""
        if delivered is not None:
            return DeliveryStatus.SENT, None
        if not retryable or attempts >= GIVE_UP_AFTER or sub.required:
            return DeliveryStatus.GIVEN_UP, None
        backoff = getattr(self.runbook.sinks[sub.to].settings(), "backoff", self.retry_backoff)
        wait = min(MAX_BACKOFF, float(backoff) * 2 ** (attempts - 1))
        return DeliveryStatus.FAILED, self.clock.now() + timedelta(seconds=wait)

    async def _send(
        self, run: RunRow, event: EventRow, kind: RunEvent, index: int
    ) -> tuple[int, str | None, bool, Delivered | None]:
        """(attempts made, error, whether retrying may help, what was delivered). One attempt,
        or for a required subscription its retries inline; each within the sink's timeout."""
        sub = self.subscriptions[index]
        settings = self.runbook.sinks[sub.to].settings()
        retries = getattr(settings, "retries", 2) if sub.required else 0
        backoff = getattr(settings, "backoff", self.retry_backoff)
        deadline = float(getattr(settings, "timeout", 10.0))
        attempt = 0
        while True:
            attempt += 1
            try:
                notice = self._notice(run, event, kind, index)
                async with self.clock.timeout(deadline):
                    sent = await self._sink(sub.to).send(notice)
                return attempt, None, False, sent
            except TimeoutError:
                error, retryable = f"cannot deliver: no complete answer within {deadline:g}s", True
            except (NotifyError, InputError) as exc:
                error, retryable = str(exc), isinstance(exc, NotifyError) and exc.retryable
            if not retryable or attempt > retries:
                return attempt, error, retryable, None
            await self.clock.sleep(backoff * 2 ** (attempt - 1))

    def _journal(
        self,
        run: RunRow,
        kind: RunEvent,
        sub: Subscription,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        delivered: Delivered | None,
        retry_at: datetime | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "sink": sub.to,
            "event": kind.value,
            "attempts": attempts,
            "required": sub.required,
        }
        if error:
            data["error"] = self.redactor.text(error)
            data["retry_at" if retry_at else "given_up"] = (  # not a status
                retry_at.isoformat() if retry_at else True
            )
        elif delivered:
            data["detail"] = delivered.detail
        type_ = (
            EventType.NOTIFICATION_SENT
            if status == DeliveryStatus.SENT
            else EventType.NOTIFICATION_FAILED
        )
        self.store.append(run.id, actor=self.actor, type=type_, at=self.clock.now(), data=data)
        fresh = self.store.run(run.id)
        if status != DeliveryStatus.SENT and sub.required and not fresh.terminal:
            log.warning("required notification to %s failed; aborting run %s", sub.to, run.id)
            self.store.append(
                run.id,
                actor=self.actor,
                type=EventType.RUN_ABORT_REQUESTED,
                at=self.clock.now(),
                data={"reason": f"required notification to '{sub.to}' failed"},
                run_values={
                    "abort_requested": f"{self.actor} (required notification to '{sub.to}' failed)"
                },
            )


class Companion(Protocol):
    """Something that follows a run's events while the run is driven."""

    @property
    def active(self) -> bool: ...

    async def follow(self, run_id: int) -> None: ...

    def stop(self) -> None: ...

    async def aclose(self) -> None: ...


async def alongside(companions: Sequence[Companion], run_id: int, work: Awaitable[T]) -> T:
    """Run ``work`` (driving the run) while each active companion follows the run's events;
    when the work ends, each companion gets a last look (the run's end) and is closed."""
    active = [c for c in companions if c.active]
    followers = [asyncio.create_task(c.follow(run_id)) for c in active]
    try:
        return await work
    finally:
        for companion in active:
            companion.stop()
        try:
            notifying = [
                t for c, t in zip(active, followers, strict=True) if isinstance(c, Notifier)
            ]
            if notifying:
                _, late = await asyncio.wait(notifying, timeout=FLUSH_GRACE)
                for task in late:
                    task.cancel()
            results = await asyncio.gather(*followers, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    raise result
        finally:
            for companion in active:
                await companion.aclose()
