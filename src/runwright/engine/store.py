"""The durable store of runs: SQLite by default, PostgreSQL for teams, one code path for both.

Every state change of a run is one transaction that appends a hash-chained event and updates
the current-state rows beside it, so the audit trail and the state can never disagree, and a
run killed at any instant is found again exactly as far as it got. The schema is created and
upgraded by Alembic when a store is opened.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, SQLAlchemyError

from runwright.engine import tables as t
from runwright.errors import InputError, LockedError, RunwrightError
from runwright.model.status import TERMINAL, RunStatus, StepStatus, UndoStatus

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class StoreError(RunwrightError):
    """The state store cannot be reached or used."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RunRow:
    id: int
    runbook: str
    environment: str
    version: str
    status: RunStatus
    initiator: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    runbook_file: str
    runbook_text: str
    runbook_digest: str
    params: dict[str, Any]
    failure: str | None
    abort_requested: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    event_count: int
    head_hash: str
    revision: int | None
    kind: str

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class StepRow:
    run_id: int
    section: str
    idx: int
    phase: str
    name: str
    kind: str
    spec: dict[str, Any]
    status: StepStatus
    undo_status: UndoStatus | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    summary: str | None
    output: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    id: int
    run_id: int
    seq: int
    at: datetime
    actor: str
    type: str
    step: str | None
    data: dict[str, Any]
    data_text: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ApprovalRow:
    run_id: int
    gate: str
    kind: str
    item: int | None
    user: str
    note: str
    at: datetime


@dataclass(frozen=True)
class RevisionRow:
    runbook: str
    environment: str
    number: int
    version: str
    run_id: int
    runbook_digest: str
    deployed_by: str
    at: datetime
    state: dict[str, Any]


@dataclass(frozen=True)
class NewStep:
    section: str
    idx: int
    phase: str
    name: str
    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class StepUpdate:
    section: str
    idx: int
    values: Mapping[str, Any] = field(default_factory=dict)
    append_output: str = ""


def event_hash(
    run_id: int,
    seq: int,
    at: datetime,
    actor: str,
    type_: str,
    step: str | None,
    data_text: str,
    prev_hash: str,
) -> str:
    body = json.dumps(
        [run_id, seq, _ts(at), actor, type_, step, data_text, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


OUTPUT_LIMIT = 256 * 1024

# The journal's statements, built once: every step appends two events, and building the
# statements per call cost as much as the durable commit itself. SET columns come from the
# parameters given at execution; ``_rid``/``_sec``/``_idx`` pick the row.
_HEAD = (
    sa.select(t.runs.c.event_count, t.runs.c.head_hash)
    .where(t.runs.c.id == sa.bindparam("_rid"))
    .with_for_update()
)
_ADD_EVENT = sa.insert(t.events).returning(t.events.c.id)
_SET_RUN = sa.update(t.runs).where(t.runs.c.id == sa.bindparam("_rid"))
_STEP_WHERE = (
    t.steps.c.run_id == sa.bindparam("_rid"),
    t.steps.c.section == sa.bindparam("_sec"),
    t.steps.c.idx == sa.bindparam("_idx"),
)
_SET_STEP = sa.update(t.steps).where(*_STEP_WHERE)
_STEP_OUTPUT = sa.select(t.steps.c.output).where(*_STEP_WHERE)


class Store:
    """Runs, steps, events, approvals, locks and revisions in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, durable: bool = True) -> Store:
        engine = _make_engine(url, durable=durable)
        store = cls(engine)
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            with self.engine.begin() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
                if current == head:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except DatabaseError as exc:
            raise StoreError(
                f"cannot open the state store at {self.engine.url.render_as_string()}: {exc.orig}",
                hint="check --database-url / RUNWRIGHT_DATABASE_URL and that the server runs",
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(
                f"state store error: {exc.orig}", hint="is the database reachable and writable?"
            ) from None

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        runbook: str,
        environment: str,
        version: str,
        initiator: str,
        file: str,
        text: str,
        digest: str,
        params: Mapping[str, Any],
        steps: Sequence[NewStep],
        now: datetime,
        kind: str = "deploy",
    ) -> int:
        """Create a run holding the (runbook, environment) lock; LockedError if it is held."""
        try:
            with self._tx() as conn:
                run_id = conn.execute(
                    sa.insert(t.runs)
                    .values(
                        runbook=runbook,
                        environment=environment,
                        version=version,
                        status=RunStatus.PENDING,
                        initiator=initiator,
                        created_at=now,
                        updated_at=now,
                        runbook_file=file,
                        runbook_text=text,
                        runbook_digest=digest,
                        params=_dumps(params),
                        event_count=0,
                        head_hash=GENESIS,
                        kind=kind,
                    )
                    .returning(t.runs.c.id)
                ).scalar_one()
                conn.execute(
                    sa.insert(t.locks).values(
                        runbook=runbook,
                        environment=environment,
                        run_id=run_id,
                        holder=initiator,
                        acquired_at=now,
                    )
                )
                if steps:
                    conn.execute(
                        sa.insert(t.steps),
                        [
                            {
                                "run_id": run_id,
                                "section": s.section,
                                "idx": s.idx,
                                "phase": s.phase,
                                "name": s.name,
                                "kind": s.kind,
                                "spec": _dumps(s.spec),
                                "status": StepStatus.PENDING,
                                "attempts": 0,
                                "output": "",
                                "data": "{}",
                            }
                            for s in steps
                        ],
                    )
                return int(run_id)
        except IntegrityError:
            holder = self.lock_holder(runbook, environment)
            if holder is None:
                raise StoreError("could not take the run lock; try again") from None
            run = self.run(holder)
            lease = ""
            if run.lease_owner and run.lease_expires:
                lease = f"; driven by {run.lease_owner} until {_ts(run.lease_expires)}"
            raise LockedError(
                f"{runbook}/{environment} is locked by run {run.id} ({run.status}, version "
                f"{run.version}, started by {run.initiator} at {_ts(run.created_at)}{lease})",
                hint=f"wait for it, or: runwright status {run.id} / runwright abort {run.id}",
            ) from None

    def lock_holder(self, runbook: str, environment: str) -> int | None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.locks.c.run_id).where(
                    t.locks.c.runbook == runbook, t.locks.c.environment == environment
                )
            ).first()
        return int(row[0]) if row else None

    def run(self, run_id: int) -> RunRow:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        if row is None:
            raise InputError(f"no run {run_id}", hint="list runs with: runwright history")
        return _run_row(row)

    def runs(
        self,
        *,
        runbook: str | None = None,
        environment: str | None = None,
        active: bool = False,
        limit: int = 50,
    ) -> list[RunRow]:
        query = sa.select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if runbook:
            query = query.where(t.runs.c.runbook == runbook)
        if environment:
            query = query.where(t.runs.c.environment == environment)
        if active:
            query = query.where(t.runs.c.status.not_in(list(TERMINAL)))
        with self._tx() as conn:
            return [_run_row(r) for r in conn.execute(query).mappings()]

    def steps(self, run_id: int) -> list[StepRow]:
        query = (
            sa.select(t.steps)
            .where(t.steps.c.run_id == run_id)
            .order_by(t.steps.c.section, t.steps.c.idx)
        )
        with self._tx() as conn:
            return [_step_row(r) for r in conn.execute(query).mappings()]

    def step(self, run_id: int, section: str, idx: int) -> StepRow:
        query = sa.select(t.steps).where(
            t.steps.c.run_id == run_id, t.steps.c.section == section, t.steps.c.idx == idx
        )
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise InputError(f"no step {section}/{idx} in run {run_id}")
        return _step_row(row)

    # -- the journal ------------------------------------------------------------------------

    def append(
        self,
        run_id: int,
        *,
        actor: str,
        type: str,
        at: datetime,
        step: str | None = None,
        data: Mapping[str, Any] | None = None,
        run_values: Mapping[str, Any] | None = None,
        step_update: StepUpdate | None = None,
    ) -> EventRow:
        """Append one event and apply the state change it records, atomically."""
        data_text = _dumps(data or {})
        with self._tx() as conn:
            head = conn.execute(_HEAD, {"_rid": run_id}).first()
            if head is None:
                raise InputError(f"no run {run_id}")
            seq = int(head[0]) + 1
            prev = str(head[1])
            digest = event_hash(run_id, seq, at, actor, type, step, data_text, prev)
            event_id = conn.execute(
                _ADD_EVENT,
                {
                    "run_id": run_id,
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "type": type,
                    "step": step,
                    "data": data_text,
                    "prev_hash": prev,
                    "hash": digest,
                },
            ).scalar_one()
            values: dict[str, Any] = {"event_count": seq, "head_hash": digest, "updated_at": at}
            if run_values:
                values.update(run_values)
                if "params" in values and not isinstance(values["params"], str):
                    values["params"] = _dumps(values["params"])
            conn.execute(_SET_RUN, {"_rid": run_id, **values})
            if values.get("status") in TERMINAL:
                conn.execute(sa.delete(t.locks).where(t.locks.c.run_id == run_id))
            if step_update is not None:
                self._apply_step(conn, run_id, step_update)
        return EventRow(
            int(event_id),
            run_id,
            seq,
            at,
            actor,
            type,
            step,
            dict(data or {}),
            data_text,
            prev,
            digest,
        )

    def _apply_step(self, conn: Connection, run_id: int, update: StepUpdate) -> None:
        where = {"_rid": run_id, "_sec": update.section, "_idx": update.idx}
        values = dict(update.values)
        if "data" in values and not isinstance(values["data"], str):
            values["data"] = _dumps(values["data"])
        if update.append_output:
            current = conn.execute(_STEP_OUTPUT, where).scalar_one()
            text = (current or "") + update.append_output
            if len(text) > OUTPUT_LIMIT:
                text = "[... earlier output truncated ...]\n" + text[-OUTPUT_LIMIT:]
            values["output"] = text
        if values:
            conn.execute(_SET_STEP, {**where, **values})

    def update_step(self, run_id: int, update: StepUpdate) -> None:
        """Change step state that is not audit-worthy on its own (live output)."""
        with self._tx() as conn:
            self._apply_step(conn, run_id, update)

    def events(self, run_id: int) -> list[EventRow]:
        query = sa.select(t.events).where(t.events.c.run_id == run_id).order_by(t.events.c.seq)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            try:
                data = json.loads(r["data"])
            except ValueError:
                data = {"unreadable": r["data"]}
            out.append(
                EventRow(
                    r["id"],
                    r["run_id"],
                    r["seq"],
                    _utc(r["at"]) or r["at"],
                    r["actor"],
                    r["type"],
                    r["step"],
                    data,
                    r["data"],
                    r["prev_hash"],
                    r["hash"],
                )
            )
        return out

    # -- leases: which process drives a run -------------------------------------------------

    def acquire_lease(
        self,
        run_id: int,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        owner_dead: Callable[[str], bool],
    ) -> None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.runs.c.lease_owner, t.runs.c.lease_expires)
                .where(t.runs.c.id == run_id)
                .with_for_update()
            ).first()
            if row is None:
                raise InputError(f"no run {run_id}")
            holder, expires = row[0], _utc(row[1])
            if holder and holder != owner and expires and expires > now and not owner_dead(holder):
                raise LockedError(
                    f"run {run_id} is being driven by {holder} (lease until {_ts(expires)})",
                    hint="wait for that process, or run this again after the lease expires",
                )
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(lease_owner=owner, lease_expires=now + timedelta(seconds=ttl))
            )

    def renew_lease(self, run_id: int, owner: str, *, now: datetime, ttl: float) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.lease_owner == owner)
                .values(lease_expires=now + timedelta(seconds=ttl))
            )
        return bool(result.rowcount)

    def release_lease(self, run_id: int, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires=None)
            )

    # -- approvals and attestations ---------------------------------------------------------

    def add_approval(
        self,
        run_id: int,
        *,
        gate: str,
        kind: str,
        user: str,
        note: str,
        at: datetime,
        item: int | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                sa.insert(t.approvals).values(
                    run_id=run_id, gate=gate, kind=kind, item=item, user=user, note=note, at=at
                )
            )

    def approvals(self, run_id: int, gate: str | None = None) -> list[ApprovalRow]:
        query = (
            sa.select(t.approvals).where(t.approvals.c.run_id == run_id).order_by(t.approvals.c.id)
        )
        if gate is not None:
            query = query.where(t.approvals.c.gate == gate)
        with self._tx() as conn:
            return [
                ApprovalRow(
                    r["run_id"],
                    r["gate"],
                    r["kind"],
                    r["item"],
                    r["user"],
                    r["note"],
                    _utc(r["at"]) or r["at"],
                )
                for r in conn.execute(query).mappings()
            ]

    # -- revisions --------------------------------------------------------------------------

    def add_revision(
        self,
        *,
        runbook: str,
        environment: str,
        version: str,
        run_id: int,
        digest: str,
        deployed_by: str,
        at: datetime,
        state: Mapping[str, Any] | None = None,
    ) -> int:
        with self._tx() as conn:
            last = conn.execute(
                sa.select(sa.func.max(t.revisions.c.number)).where(
                    t.revisions.c.runbook == runbook, t.revisions.c.environment == environment
                )
            ).scalar()
            number = int(last or 0) + 1
            conn.execute(
                sa.insert(t.revisions).values(
                    runbook=runbook,
                    environment=environment,
                    number=number,
                    version=version,
                    run_id=run_id,
                    runbook_digest=digest,
                    deployed_by=deployed_by,
                    at=at,
                    state=_dumps(state or {}),
                )
            )
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(revision=number))
        return number

    def revisions(self, runbook: str, environment: str) -> list[RevisionRow]:
        query = (
            sa.select(t.revisions)
            .where(t.revisions.c.runbook == runbook, t.revisions.c.environment == environment)
            .order_by(t.revisions.c.number.desc())
        )
        with self._tx() as conn:
            return [
                RevisionRow(
                    r["runbook"],
                    r["environment"],
                    r["number"],
                    r["version"],
                    r["run_id"],
                    r["runbook_digest"],
                    r["deployed_by"],
                    _utc(r["at"]) or r["at"],
                    json.loads(r["state"] or "{}"),
                )
                for r in conn.execute(query).mappings()
            ]

    # -- measurements -----------------------------------------------------------------------

    def add_measurements(self, run_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        with self._tx() as conn:
            conn.execute(sa.insert(t.measurements), [{"run_id": run_id, **r} for r in rows])

    def measurements(self, run_id: int) -> list[dict[str, Any]]:
        query = (
            sa.select(t.measurements)
            .where(t.measurements.c.run_id == run_id)
            .order_by(t.measurements.c.id)
        )
        with self._tx() as conn:
            return [dict(r) | {"at": _utc(r["at"])} for r in conn.execute(query).mappings()]

    def tamper_for_tests(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run raw SQL (tests use it to edit or delete audit rows as an attacker would)."""
        with self._tx() as conn:
            conn.execute(sa.text(sql), dict(params or {}))


def _run_row(r: Any) -> RunRow:
    return RunRow(
        id=int(r["id"]),
        runbook=r["runbook"],
        environment=r["environment"],
        version=r["version"],
        status=RunStatus(r["status"]),
        initiator=r["initiator"],
        created_at=_utc(r["created_at"]) or r["created_at"],
        updated_at=_utc(r["updated_at"]) or r["updated_at"],
        finished_at=_utc(r["finished_at"]),
        runbook_file=r["runbook_file"],
        runbook_text=r["runbook_text"],
        runbook_digest=r["runbook_digest"],
        params=json.loads(r["params"] or "{}"),
        failure=r["failure"],
        abort_requested=r["abort_requested"],
        lease_owner=r["lease_owner"],
        lease_expires=_utc(r["lease_expires"]),
        event_count=int(r["event_count"] or 0),
        head_hash=r["head_hash"] or GENESIS,
        revision=r["revision"],
        kind=r["kind"],
    )


def _step_row(r: Any) -> StepRow:
    return StepRow(
        run_id=int(r["run_id"]),
        section=r["section"],
        idx=int(r["idx"]),
        phase=r["phase"],
        name=r["name"],
        kind=r["kind"],
        spec=json.loads(r["spec"]),
        status=StepStatus(r["status"]),
        undo_status=UndoStatus(r["undo_status"]) if r["undo_status"] else None,
        attempts=int(r["attempts"] or 0),
        started_at=_utc(r["started_at"]),
        finished_at=_utc(r["finished_at"]),
        summary=r["summary"],
        output=r["output"] or "",
        data=json.loads(r["data"] or "{}"),
    )


def _make_engine(url: str, *, durable: bool) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi: Any, _record: Any) -> None:
                dbapi.isolation_level = None
                cur = dbapi.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return sa.create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError) as exc:
        raise InputError(
            f"bad database URL {url!r}: {exc}",
            hint="use sqlite:///PATH or postgresql://user@host:port/db",
        ) from None
    except ModuleNotFoundError as exc:
        raise InputError(f"no database driver for {url!r}: {exc.name}") from None
    except OSError as exc:
        raise StoreError(
            f"cannot create the state store's directory for {url!r}: {exc.strerror}",
            hint="check --state-dir / RUNWRIGHT_STATE_DIR and that it is writable",
        ) from None


def verify_chain(events: Sequence[EventRow], run: RunRow) -> tuple[bool, str]:
    """Recompute the chain; return (ok, sentence naming the first bad event)."""
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            return False, (
                f"event {expected_seq} is missing (next present is #{ev.seq}, "
                f"{ev.type}): events were deleted"
            )
        if ev.prev_hash != prev:
            return False, f"event #{ev.seq} ({ev.type}) does not follow #{ev.seq - 1}: chain broken"
        digest = event_hash(
            ev.run_id, ev.seq, ev.at, ev.actor, ev.type, ev.step, ev.data_text, ev.prev_hash
        )
        if digest != ev.hash:
            return False, (
                f"event #{ev.seq} ({ev.type}{', step ' + ev.step if ev.step else ''}) "
                f"was edited: its content does not match its hash"
            )
        prev = ev.hash
        expected_seq += 1
    if len(events) != run.event_count:
        return False, (
            f"the run records {run.event_count} events but {len(events)} remain: "
            f"event {len(events) + 1} onwards was deleted"
        )
    if prev != run.head_hash:
        return False, "the last event does not match the run's recorded chain head"
    return True, f"{len(events)} events, chain intact (head {prev[:12]})"
