"""The scheduler: carries out what the state machine decides, journaling before and after.

Each step is recorded as started (one committed transaction) before it acts and as finished
after, so a crash at any instant leaves the journal saying exactly which step was in flight.
While a step runs, two housekeeping tasks keep the lease alive and watch for an abort request
from another process. Everything written or shown passes through the run's ``Redactor``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic

from runwright.engine.clock import Clock
from runwright.engine.executor import (
    Executor,
    NullObserver,
    Observer,
    Outcome,
    RunInfo,
    S,
    StepContext,
)
from runwright.engine.interrupt import Interrupt
from runwright.engine.machine import (
    MAIN,
    Action,
    AwaitSettlement,
    Execute,
    Finish,
    RunView,
    StepView,
    Undo,
    decide,
    status_after,
)
from runwright.engine.observing import Guarded
from runwright.engine.processes import ProcessMark
from runwright.engine.redact import Redactor
from runwright.engine.store import (
    REVISED_KINDS,
    ApprovalRow,
    RunRow,
    StepRow,
    StepUpdate,
    Store,
    StoreError,
)
from runwright.errors import ActionError, FencedError, InputError, RunwrightError
from runwright.model.event_type import EventType
from runwright.model.status import OutcomeStatus, RunStatus, StepStatus, UndoStatus
from runwright.model.templating import outside

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class EngineSettings:
    owner: str
    lease_ttl: float = 30.0
    watch_interval: float = 0.5
    crash_at: str | None = None
    owner_dead: Callable[[str], bool] = lambda owner: False
    interrupt: Interrupt | None = None
    actor_via: str = "os"


def step_view(r: StepRow) -> StepView:
    return StepView(
        section=r.section,
        idx=r.idx,
        name=r.name,
        status=r.status,
        undo_status=r.undo_status,
        idempotent=bool(r.spec.get("idempotent")),
        has_undo=r.spec.get("undo_step") is not None,
        continue_on_error=bool(r.spec.get("continue_on_error")),
    )


def view_of(
    run: RunRow,
    rows: list[StepRow],
    views: dict[tuple[str, int], tuple[StepRow, StepView]] | None = None,
) -> RunView:
    """The machine's view of a run. ``views`` caches each row's view across the calls of one
    drive loop (a row object is replaced, never changed, when its step moves on)."""
    steps = []
    for r in rows:
        cached = views.get((r.section, r.idx)) if views is not None else None
        if cached is not None and cached[0] is r:
            steps.append(cached[1])
            continue
        view = step_view(r)
        if views is not None:
            views[(r.section, r.idx)] = (r, view)
        steps.append(view)
    return RunView(status=run.status, abort_requested=bool(run.abort_requested), steps=tuple(steps))


def captured_values(rows: list[StepRow]) -> dict[str, Any]:
    """Values earlier steps captured, marked as coming from outside (``raw`` refuses them
    in shell commands)."""
    out: dict[str, Any] = {}
    for r in rows:
        if r.section == MAIN and r.status == StepStatus.SUCCEEDED:
            out.update(r.data.get("captured", {}))
    return {k: outside(v, f"captured value '{k}'") for k, v in out.items()}


class Scheduler(Generic[S]):
    """Drives runs; ``S`` is what the app hands every step as its services."""

    def __init__(
        self,
        store: Store,
        executor: Executor[S],
        clock: Clock,
        settings: EngineSettings,
        *,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.clock = clock
        self.settings = settings
        self.observer = Guarded(observer or NullObserver())
        self.lost: set[int] = set()

    # -- journal helpers --------------------------------------------------------------------

    def _journal(
        self,
        run_id: int,
        type_: str,
        *,
        actor: str,
        redactor: Redactor,
        step: str | None = None,
        data: Mapping[str, Any] | None = None,
        run_values: Mapping[str, Any] | None = None,
        step_update: StepUpdate | None = None,
        decisions: tuple[ApprovalRow, ...] = (),
        revision: bool = False,
    ) -> None:
        clean = redactor.obj(dict(data or {}))
        if step_update is not None and step_update.values:
            step_update = StepUpdate(
                step_update.section,
                step_update.idx,
                redactor.obj(dict(step_update.values)),
                redactor.text(step_update.append_output),
            )
        if run_values and "failure" in run_values:
            run_values = {**run_values, "failure": redactor.text(str(run_values["failure"]))}
        self.store.append(
            run_id,
            actor=actor,
            type=type_,
            at=self.clock.now(),
            step=step,
            data=clean,
            run_values=run_values,
            step_update=step_update,
            decisions=decisions,
            revision=revision,
        )
        self.observer.event(run_id, type_, step, clean)

    def _crash(self, point: str) -> None:
        if self.settings.crash_at and self.settings.crash_at == point:
            log.warning("crash point %s reached: killing this process", point)
            os.kill(os.getpid(), signal.SIGKILL)

    # -- driving a run ----------------------------------------------------------------------

    async def drive(
        self,
        run_id: int,
        *,
        actor: str,
        variables: Mapping[str, Any],
        redactor: Redactor,
        services: S,
        interactive: Callable[[str], bool] | None = None,
        leased: Callable[[], None] | None = None,
    ) -> RunRow:
        """Drive the run until it ends or blocks; return its row as it then stands.
        ``leased`` runs once the lease is held (a refused lease raises before it)."""
        owner = self.settings.owner
        self.store.acquire_lease(
            run_id,
            owner,
            now=self.clock.now(),
            ttl=self.settings.lease_ttl,
            owner_dead=self.settings.owner_dead,
        )
        if leased is not None:
            try:
                leased()
            except BaseException:
                self.store.release_lease(run_id, owner)
                raise
        d = _Drive(run_id, actor, redactor, services, interactive)
        renew = asyncio.create_task(self._renew(run_id, owner, asyncio.current_task()))
        if self.settings.interrupt is not None:
            self.settings.interrupt.driving = run_id
        try:
            # Only the lease holder changes step rows, so they are read once and then
            # refreshed one by one as this loop changes them.
            rows = self.store.steps(run_id)
            views: dict[tuple[str, int], tuple[StepRow, StepView]] = {}
            while True:
                run = self.store.run(run_id)
                if self._interrupted(run, actor, redactor):
                    run = self.store.run(run_id)
                if run.abort_requested and self._end_interrupted(d, rows):
                    rows = self.store.steps(run_id)
                    continue
                view = view_of(run, rows, views)
                action = decide(view)
                if not self._announce(d, run, rows, action, status_after(view, action)):
                    break
                assert isinstance(action, Execute | Undo)
                row = _find(rows, MAIN if isinstance(action, Undo) else action.section, action.idx)
                captured = captured_values(rows)
                act = _Act(
                    info=RunInfo(run.id, run.runbook, run.environment, run.version, run.initiator),
                    row=row,
                    variables={**variables, **captured, "captured": captured},
                    undo=isinstance(action, Undo),
                )
                if action.rerun:
                    self._stop_orphan(d, row, act.undo)
                if await self._execute(d, act):
                    break
                fresh = self.store.step(run_id, row.section, row.idx)
                rows = [fresh if r is row else r for r in rows]
        except asyncio.CancelledError:
            if run_id not in self.lost:
                raise
            raise FencedError(
                f"run {run_id}: lease renewal refused: another process took the run over; "
                "the step in flight here was stopped and this process no longer acts on it"
            ) from None
        finally:
            renew.cancel()
            if self.settings.interrupt is not None:
                self.settings.interrupt.driving = None
            self.store.release_lease(run_id, owner)
        return self.store.run(run_id)

    def _announce(
        self, d: _Drive[S], run: RunRow, rows: list[StepRow], action: Action, status: RunStatus
    ) -> bool:
        """Journal what ``action`` means for the run; False when the drive stops here."""
        if isinstance(action, Finish):
            if not run.terminal:
                self._crash("finishing")
                values = {"status": status, "finished_at": self.clock.now()}
                self._event(
                    d,
                    EventType.RUN_FINISHED,
                    data={"status": status},
                    run_values=values,
                    revision=status == RunStatus.SUCCEEDED and run.kind in REVISED_KINDS,
                )
                self._crash("finished")
            return False
        if isinstance(action, AwaitSettlement):
            row = _find(rows, action.section, action.idx)
            mark = _mark(row, undo=action.what == "undo")
            alive = mark is not None and mark.alive()
            message = (
                f"{action.what} '{row.name}' was in flight when runwright stopped "
                "and is not idempotent" + _still_running(mark, alive)
            )
            self._event(
                d,
                EventType.RUN_AWAITING_SETTLEMENT,
                step=row.name,
                data={"what": action.what, "message": message, "still_running": alive},
                run_values={"status": status},
            )
            return False
        if status != run.status:
            if status == RunStatus.ROLLING_BACK:
                reason = run.failure or (
                    f"aborted by {run.abort_requested}" if run.abort_requested else "a step failed"
                )
                data: dict[str, Any] = {"reason": reason}
                self._event(d, EventType.ROLLBACK_STARTED, data=data, run_values={"status": status})
            else:
                data = {"from": run.status}
                self._event(d, EventType.RUN_STARTED, data=data, run_values={"status": status})
        return True

    def _event(
        self,
        d: _Drive[S],
        type_: str,
        *,
        step: str | None = None,
        data: Mapping[str, Any] | None = None,
        run_values: Mapping[str, Any] | None = None,
        step_update: StepUpdate | None = None,
        decisions: tuple[ApprovalRow, ...] = (),
        revision: bool = False,
    ) -> None:
        self._journal(
            d.run_id,
            type_,
            actor=d.actor,
            redactor=d.redactor,
            step=step,
            data=data,
            run_values=run_values,
            step_update=step_update,
            decisions=decisions,
            revision=revision,
        )

    def _stop_orphan(self, d: _Drive[S], row: StepRow, undo: bool) -> None:
        """Before re-running an in-flight step, stop the copy a crashed runwright left
        running (only that very process group), so two never run side by side."""
        mark = _mark(row, undo=undo)
        if mark is None or not mark.alive():
            return
        stopped = mark.kill()
        self._event(
            d,
            EventType.STEP_ORPHAN,
            step=row.name,
            data={
                "undo": undo,
                "pgid": mark.pgid,
                "stopped": stopped,
                "message": f"stopped {mark.describe()}, left running by a runwright that "
                "died, before running it again",
            },
        )

    def _end_interrupted(self, d: _Drive[S], rows: list[StepRow]) -> bool:
        """On abort, a forward step left in flight by a crash is stopped (its process group
        killed) and recorded failed, so no step goes on behind the abort's back."""
        ended = False
        for row in rows:
            if row.section != MAIN or row.status != StepStatus.RUNNING:
                continue
            mark = _mark(row, undo=False)
            alive = mark is not None and mark.alive()
            if mark is not None and alive:
                mark.kill()
            what = f"stopped {mark.describe()}" if mark and alive else "its process had ended"
            self._event(
                d,
                EventType.STEP_FAILED,
                step=row.name,
                data={"error": f"in flight when runwright stopped; aborted ({what})"},
                step_update=StepUpdate(
                    row.section,
                    row.idx,
                    {
                        "status": StepStatus.FAILED,
                        "finished_at": self.clock.now(),
                        "summary": f"interrupted, then aborted ({what})",
                    },
                ),
            )
            ended = True
        return ended

    async def _renew(self, run_id: int, owner: str, driving: asyncio.Task[Any] | None) -> None:
        """Heartbeat the lease; once it is lost (taken over, lock broken) the drive is
        cancelled at once, which stops the step in flight and its process group."""
        while True:
            await self.clock.sleep(self.settings.lease_ttl / 3, background=True)
            try:
                held = self.store.renew_lease(
                    run_id, owner, now=self.clock.now(), ttl=self.settings.lease_ttl
                )
            except RunwrightError as exc:
                log.warning("could not renew the lease on run %s: %s", run_id, exc)
                continue
            if not held:
                log.error("lost the lease on run %s: another process drives it now", run_id)
                self.lost.add(run_id)
                if driving is not None:
                    driving.cancel()
                return

    async def _execute(self, d: _Drive[S], act: _Act) -> bool:
        """Run a step (or its undo) with retries; return True when the run is now blocked."""
        spec, row = act.spec, act.row
        retries = int(spec.get("retries") or 0)
        backoff = float(spec.get("backoff") or 1.0)
        self._crash(f"before-undo:{row.name}" if act.undo else f"before:{row.name}")
        attempt = 0 if act.undo else row.attempts
        while True:
            attempt += 1
            start: dict[str, Any] = {
                act.column: UndoStatus.RUNNING if act.undo else StepStatus.RUNNING
            }
            if not act.undo:
                start |= {"attempts": attempt, "started_at": self.clock.now()}
            self._event(
                d,
                EventType.STEP_STARTED.of(undo=act.undo),
                step=row.name,
                data={"attempt": attempt, "kind": spec.get("kind"), **_owner(spec)},
                step_update=StepUpdate(row.section, row.idx, start),
            )
            self._crash(f"started-undo:{row.name}" if act.undo else f"started:{row.name}")
            outcome = await self._attempt(d, act, attempt)
            if outcome.status == OutcomeStatus.SUCCEEDED:
                self._succeeded(d, act, attempt, outcome)
                return False
            if outcome.status == OutcomeStatus.BLOCKED:
                self._blocked(d, act, outcome)
                return True
            if outcome.retryable and attempt <= retries and not self._abort_requested(d.run_id):
                delay = backoff * (2 ** (attempt - 1))
                self._event(
                    d,
                    EventType.STEP_RETRY.of(undo=act.undo),
                    step=row.name,
                    data={"attempt": attempt, "error": outcome.summary, "delay_seconds": delay},
                )
                await self.clock.sleep(delay)
                continue
            self._failed(d, act, attempt, outcome)
            return False

    def _finished_values(self, act: _Act, outcome: Outcome) -> dict[str, Any]:
        if act.undo:
            return {}
        return {
            "finished_at": self.clock.now(),
            "summary": outcome.summary,
            "data": _unmarked({**act.row.data, **outcome.data}),
        }

    def _succeeded(self, d: _Drive[S], act: _Act, attempt: int, outcome: Outcome) -> None:
        row = act.row
        values: dict[str, Any] = {act.column: UndoStatus.DONE if act.undo else StepStatus.SUCCEEDED}
        values |= self._finished_values(act, outcome)
        self._event(
            d,
            EventType.STEP_SUCCEEDED.of(undo=act.undo),
            step=row.name,
            data={"summary": outcome.summary, "attempt": attempt, **_evidence(outcome)},
            step_update=StepUpdate(row.section, row.idx, values),
        )
        self._crash(f"after-undo:{row.name}" if act.undo else f"after:{row.name}")

    def _blocked(self, d: _Drive[S], act: _Act, outcome: Outcome) -> None:
        waiting = UndoStatus.WAITING if act.undo else StepStatus.WAITING
        self._event(
            d,
            EventType.STEP_BLOCKED.of(undo=act.undo),
            step=act.row.name,
            data={"summary": outcome.summary, "on": outcome.blocked_on, **outcome.data},
            run_values={"status": outcome.blocked_on},
            step_update=StepUpdate(
                act.row.section,
                act.row.idx,
                {act.column: waiting, "summary": outcome.summary},
            ),
        )

    def _failed(self, d: _Drive[S], act: _Act, attempt: int, outcome: Outcome) -> None:
        row = act.row
        values: dict[str, Any] = {act.column: UndoStatus.FAILED if act.undo else StepStatus.FAILED}
        values |= self._finished_values(act, outcome)
        run_values: dict[str, Any] = {}
        if not act.undo and not act.spec.get("continue_on_error"):
            run_values["failure"] = f"step '{row.name}' failed: {outcome.summary}"
        self._event(
            d,
            EventType.STEP_FAILED.of(undo=act.undo),
            step=row.name,
            data={"error": outcome.summary, "attempt": attempt, **_evidence(outcome)},
            run_values=run_values or None,
            step_update=StepUpdate(row.section, row.idx, values),
        )

    def _abort_requested(self, run_id: int) -> bool:
        return bool(self.store.run(run_id).abort_requested)

    def _context(self, d: _Drive[S], act: _Act, attempt: int, sink: _Output) -> StepContext[S]:
        """What the step sees: its spec and variables, the services, and journal callbacks."""
        info, row = act.info, act.row
        noted: dict[str, Any] = {}

        def record(type_: str, data: Mapping[str, Any]) -> None:
            self._event(d, type_, step=row.name, data=data)

        def attest(gate: str, item: int | None, note: str) -> None:
            now = self.clock.now()
            via = self.settings.actor_via
            note_text = d.redactor.text(note)
            decision = ApprovalRow(info.id, gate, "attestation", item, d.actor, note_text, now, via)
            data = {"gate": gate, "item": item, "note": note, "via": via}
            self._event(d, EventType.GATE_ATTESTED, step=row.name, data=data, decisions=(decision,))

        def track(pid: int) -> None:
            mark = ProcessMark.of(pid)
            point = f"process-undo:{row.name}" if act.undo else f"process:{row.name}"
            if mark is None:  # already ended and reaped: nothing can outlive us
                self._crash(point)
                return
            key = "undo_process" if act.undo else "process"
            # Kept on the step's row, not as an event: whether a process lives long enough
            # to be seen is a matter of timing, and the audit trail must not depend on it.
            # Not waited to disk: what it guards against (a killed runwright) cannot lose it.
            self.store.update_step(
                info.id,
                StepUpdate(row.section, row.idx, {"data": {**row.data, key: mark.data()}}),
                durable=False,
            )
            self._crash(point)

        def note(data: Mapping[str, Any]) -> None:
            # Like ``track``: not waited to disk, as a killed runwright cannot lose it.
            noted.update(data)
            self.store.update_step(
                info.id,
                StepUpdate(row.section, row.idx, {"data": {**row.data, **noted}}),
                durable=False,
            )
            self._crash(f"noted-undo:{row.name}" if act.undo else f"noted:{row.name}")

        def measured(rows: list[Mapping[str, Any]]) -> None:
            clean = [
                {**d.redactor.obj(dict(r)), "step": row.name, "at": r.get("at") or self.clock.now()}
                for r in rows
            ]
            self.store.add_measurements(info.id, clean)

        return StepContext(
            run=info,
            step=row,
            spec=act.spec,
            attempt=attempt,
            undo=act.undo,
            clock=self.clock,
            variables=act.variables,
            output=sink.line,
            approvals=lambda gate: self.store.approvals(info.id, gate),
            services=d.services,
            record=record,
            actor=d.actor,
            attest=attest,
            measured=measured,
            interactive=d.interactive,
            track=track,
            note=note,
        )

    async def _attempt(self, d: _Drive[S], act: _Act, attempt: int) -> Outcome:
        label = f"undo {act.row.name}" if act.undo else act.row.name
        sink = _Output(self, act, d.redactor, label)
        task = asyncio.ensure_future(self.executor.execute(self._context(d, act, attempt, sink)))
        forward = not act.undo and act.row.section == MAIN
        watcher = asyncio.ensure_future(
            self._watch_abort(act.info.id, d.actor, d.redactor)
            if forward
            else asyncio.Event().wait()
        )
        timeout = act.spec.get("timeout")
        try:
            done: set[asyncio.Future[Any]] = set()
            try:
                async with self.clock.timeout(timeout):
                    done, _ = await asyncio.wait(
                        {task, watcher}, return_when=asyncio.FIRST_COMPLETED
                    )
            except TimeoutError:
                pass
            if task in done:
                return _outcome_of(task)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if watcher in done:
                return Outcome.fail(f"aborted by {watcher.result()}", retryable=False)
            return Outcome.fail(f"timed out after {timeout:g}s", retryable=True)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            sink.flush()

    async def _watch_abort(self, run_id: int, actor: str, redactor: Redactor) -> str:
        while True:
            await self.clock.sleep(self.settings.watch_interval, background=True)
            run = self.store.run(run_id)
            if self._interrupted(run, actor, redactor):
                run = self.store.run(run_id)
            if run.abort_requested:
                return run.abort_requested

    def _interrupted(self, run: RunRow, actor: str, redactor: Redactor) -> bool:
        """Turn a Ctrl-C abort request into the journaled one ``runwright abort`` makes."""
        interrupt = self.settings.interrupt
        if interrupt is None or not interrupt.requested_by:
            return False
        if run.abort_requested or run.terminal or run.status == RunStatus.ROLLING_BACK:
            return False
        self._journal(
            run.id,
            EventType.RUN_ABORT_REQUESTED,
            actor=interrupt.requested_by,
            redactor=redactor,
            data={"reason": "Ctrl-C at the terminal"},
            run_values={"abort_requested": interrupt.requested_by},
        )
        return True


@dataclass(frozen=True)
class _Drive(Generic[S]):
    """What stays the same for every step of one drive of a run."""

    run_id: int
    actor: str
    redactor: Redactor
    services: S
    interactive: Callable[[str], bool] | None


@dataclass(frozen=True)
class _Act:
    """One step, or one step's undo, as the scheduler carries it out."""

    info: RunInfo
    row: StepRow
    variables: Mapping[str, Any]
    undo: bool

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.row.spec["undo_step"] if self.undo else self.row.spec

    @property
    def column(self) -> str:
        return "undo_status" if self.undo else "status"


class _Output:
    """A step's output: shown live, redacted, and written to its row in batches."""

    def __init__(
        self, scheduler: Scheduler[Any], act: _Act, redactor: Redactor, label: str
    ) -> None:
        self.scheduler, self.act, self.redactor, self.label = scheduler, act, redactor, label
        self.buffer: list[str] = []
        self.last_flush = scheduler.clock.monotonic()

    def flush(self) -> None:
        if self.buffer:
            text = "".join(self.buffer)
            self.buffer.clear()
            self.scheduler.store.update_step(
                self.act.info.id,
                StepUpdate(self.act.row.section, self.act.row.idx, append_output=text),
            )
        self.last_flush = self.scheduler.clock.monotonic()

    def line(self, line: str) -> None:
        clean = self.redactor.text(line.rstrip("\n"))
        self.scheduler.observer.output(self.act.info.id, self.label, clean)
        self.buffer.append(clean + "\n")
        if (
            self.scheduler.clock.monotonic() - self.last_flush > FLUSH_SECONDS
            or len(self.buffer) > 200
        ):
            self.flush()


def _outcome_of(task: asyncio.Future[Outcome]) -> Outcome:
    try:
        return task.result()
    except (FencedError, StoreError):  # this driver cannot journal: it stops, not the step
        raise
    except InputError as exc:
        return Outcome.fail(str(exc), retryable=False)
    except ActionError as exc:
        return Outcome.fail(str(exc), retryable=exc.retryable)
    except RunwrightError as exc:
        return Outcome.fail(str(exc), retryable=False)
    except Exception as exc:
        log.exception("step raised an unexpected error")
        return Outcome.fail(f"internal error: {exc!r}", retryable=False)


def _owner(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Which of a product's services a step acts for, for the audit trail (none: no key)."""
    if spec.get("service"):
        return {"service": spec["service"]}
    together = (spec.get("params") or {}).get("services")
    return {"services": list(together)} if isinstance(together, list) and together else {}


def _evidence(outcome: Outcome) -> dict[str, Any]:
    data = dict(outcome.data)
    data.pop("captured", None)
    return {"evidence": data} if data else {}


def _mark(row: StepRow, *, undo: bool) -> ProcessMark | None:
    return ProcessMark.from_data(row.data.get("undo_process" if undo else "process"))


def _unmarked(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("process", "undo_process")}


def _still_running(mark: ProcessMark | None, alive: bool) -> str:
    if mark is None:
        return ""
    if alive:
        return (
            f"; it is still running ({mark.describe()}): settle with --wait to let it "
            "finish first, or --kill to stop it"
        )
    return "; its process has ended"


def _find(rows: list[StepRow], section: str, idx: int) -> StepRow:
    for r in rows:
        if r.section == section and r.idx == idx:
            return r
    raise InputError(f"no step {section}/{idx} in this run")
