"""The durable store of runs: SQLite by default, PostgreSQL for teams, one code path for both.

Every state change of a run is one transaction that appends a hash-chained event and updates
the current-state rows beside it, so the audit trail and the state can never disagree, and a
run killed at any instant is found again exactly as far as it got. The schema is created and
upgraded by Alembic when a store is opened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import takewhile
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
from runwright.engine.chain import GENESIS, ChainKey, Sealed, head_seal, load_key, seal, valid
from runwright.engine.private import private_file
from runwright.errors import FencedError, InputError, LockedError, RunwrightError
from runwright.model.event_type import EventType
from runwright.model.status import TERMINAL, RunStatus, StepStatus, UndoStatus

QUEUE_CHANNEL = "runwright_queue"
IDLE_TX_TIMEOUT_MS = 2000

log = logging.getLogger(__name__)

DECISIONS = frozenset({EventType.APPROVAL_GIVEN, EventType.GATE_ATTESTED})
REVISED_KINDS = frozenset({"deploy", "rollback"})
RESEALED = EventType.AUDIT_RESEALED
RESEAL_REVISION = "0005_trust_reseal"
# The row fields people and decisions read, sealed into the event that sets them (its data's
# ``sets``), so every such row can be checked against the chain (engine/support.py).
SEALED_RUN_FIELDS = ("status", "failure", "abort_requested", "revision")
SEALED_STEP_FIELDS = ("status", "undo_status", "summary")


class StoreError(RunwrightError):
    """The state store cannot be reached or used."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def event_row(r: Any) -> EventRow:
    """An event from its table row (a SQLAlchemy row mapping); data that is not JSON is kept
    as ``{"unreadable": text}`` so a damaged row is still shown (and fails verification)."""
    try:
        data = json.loads(r["data"])
    except ValueError:
        data = {"unreadable": r["data"]}
    sets = data.pop("sets", None) if isinstance(data, dict) else None
    return EventRow(
        r["id"], r["run_id"], r["seq"], _utc(r["at"]) or r["at"], r["actor"], r["type"],
        r["step"], data, r["data"], r["prev_hash"], r["hash"], r["gseq"], r["gprev"],
        sets if isinstance(sets, dict) else None,
    )  # fmt: skip


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ChainError(StoreError):
    """The store-wide head of the audit chain does not match its seal: refuse to write."""


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
    legacy_until: int = 0
    lease_epoch: int = 0

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
    gseq: int | None = None
    gprev: str | None = None
    sets: dict[str, Any] | None = None  # the row fields this event set (sealed in its data)

    @property
    def sealed(self) -> Sealed:
        return Sealed(
            self.run_id,
            self.seq,
            self.at,
            self.actor,
            self.type,
            self.step,
            self.data_text,
            self.prev_hash,
            self.gseq,
            self.gprev,
        )


@dataclass(frozen=True)
class ApprovalRow:
    run_id: int
    gate: str
    kind: str
    item: int | None
    user: str
    note: str
    at: datetime
    via: str = "os"


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


@dataclass(frozen=True)
class Entry:
    """One event to append and the state change it records."""

    actor: str
    type: str
    at: datetime
    step: str | None
    data: Mapping[str, Any]
    run_values: Mapping[str, Any] | None = None
    step_update: StepUpdate | None = None


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
_CHAIN = sa.select(t.chain_head).where(t.chain_head.c.id == 1).with_for_update()
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

    def __init__(self, engine: Engine, key: ChainKey, *, lazy: Engine | None = None) -> None:
        self.engine = engine
        self.key = key
        self.lazy = lazy or engine
        self.fences: dict[int, tuple[str, int]] = {}
        # Called with a run's last event once the transaction that ended the run commits
        # (the edge sets it to write a witness line: engine/witness.py).
        self.on_run_end: Callable[[EventRow], None] | None = None

    @classmethod
    def open(cls, url: str, *, key: ChainKey | None = None, durable: bool = True) -> Store:
        """Open (and upgrade) the store at ``url``. Without ``key``, a SQLite store uses the
        key file beside its database; other stores must be given theirs."""
        engine = _make_engine(url, durable=durable)
        if key is None:
            key = _key_beside(url)
        lazy = _make_engine(url, durable=False) if durable and url.startswith("sqlite") else None
        store = cls(engine, key, lazy=lazy)
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()
        if self.lazy is not self.engine:
            self.lazy.dispose()

    def migrate(self) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        try:
            with self.engine.begin() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
                if current == head:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                before = {s.revision for s in script.iterate_revisions(current, "base")}
                if current is not None and RESEAL_REVISION not in before:
                    self._reseal(conn, datetime.now(UTC))
        except DatabaseError as exc:
            raise StoreError(
                f"cannot open the state store at {self.engine.url.render_as_string()}: {exc.orig}",
                hint="check --database-url / RUNWRIGHT_DATABASE_URL and that the server runs",
            ) from None

    def _reseal(self, conn: Connection, now: datetime) -> None:
        """Seal, once, each run's events written before keyed chains (see migration
        0005_trust_reseal): a sealed ``audit.resealed`` event names the unkeyed first events,
        after checking their unkeyed chain. Unkeyed events after a sealed one, or in a run
        whose unkeyed chain is broken, are left unsealed: ``audit verify`` reports them.
        ``now`` is the upgrade's wall-clock time (no run's clock applies here)."""
        query = sa.select(t.events.c.run_id).where(t.events.c.gseq.is_(None)).distinct()
        for run_id in sorted(int(r) for r in conn.execute(query).scalars()):
            rows = conn.execute(
                sa.select(t.events).where(t.events.c.run_id == run_id).order_by(t.events.c.seq)
            ).mappings()
            events = [event_row(r) for r in rows]
            prefix = list(takewhile(lambda e: e.gseq is None, events))
            if not prefix or resealed_until(self.key, events):
                continue
            if not _intact(self.key, prefix):
                log.warning("run %s: its unkeyed events do not verify; not resealed", run_id)
                continue
            last = prefix[-1]
            data = {"until": last.seq, "head": last.hash, "note": "events written before "
                    "keyed chains, checked and sealed at the upgrade"}  # fmt: skip
            self._append(conn, run_id, Entry("runwright (upgrade)", RESEALED, now, None, data))

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[Connection]:
        """A transaction; ``durable=False`` commits without waiting for the disk (SQLite
        synchronous=NORMAL, PostgreSQL synchronous_commit off): the commit survives the
        process being killed, only a power cut or OS crash may lose it."""
        try:
            with (self.engine if durable else self.lazy).begin() as conn:
                if not durable and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
        except OperationalError as exc:
            raise StoreError(
                f"state store error: {exc.orig}", hint="is the database reachable and writable?"
            ) from None

    def transaction(self) -> AbstractContextManager[Connection]:
        """A durable transaction for modules that extend the store (claims, workers)."""
        return self._tx()

    def append_within(self, conn: Connection, run_id: int, entry: Entry) -> EventRow:
        """Journal ``entry`` inside the caller's transaction (``transaction()``)."""
        return self._append(conn, run_id, entry)

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
        created: Mapping[str, Any] | None = None,
        lease: tuple[str, float] | None = None,
        queued: bool = False,
    ) -> int:
        """Create a run holding the (runbook, environment) lock; LockedError if it is held.

        The run's first event (``run.created``, with ``created`` as its data) is written in the
        same transaction, so the lock it takes is in the audit chain; ``lease`` (owner, ttl)
        makes the creating process the run's driver at once, so nobody mistakes a run about to
        start for an abandoned one."""
        try:
            with self._tx() as conn:
                run_id = conn.execute(
                    sa.insert(t.runs)
                    .values(
                        runbook=runbook,
                        environment=environment,
                        version=version,
                        status=RunStatus.QUEUED if queued else RunStatus.PENDING,
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
                        legacy_until=0,
                        lease_owner=lease[0] if lease else None,
                        lease_expires=now + timedelta(seconds=lease[1]) if lease else None,
                    )
                    .returning(t.runs.c.id)
                ).scalar_one()
                if not queued:
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
                    conn.execute(sa.insert(t.steps), [_step_values(run_id, s) for s in steps])
                if created is not None:
                    status = RunStatus.QUEUED if queued else RunStatus.PENDING
                    entry = Entry(
                        initiator, EventType.RUN_CREATED, now, None, created, {"status": status}
                    )
                    self._append(conn, run_id, entry)
                if queued and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"NOTIFY {QUEUE_CHANNEL}")
                return int(run_id)
        except IntegrityError:
            holder = self.lock_holder(runbook, environment)
            if holder is None:
                raise StoreError("could not take the run lock; try again") from None
            message, hint = locked_message(self.run(holder))
            raise LockedError(message, hint=hint) from None

    def clear_dead_lock(self, runbook: str, environment: str) -> int | None:
        """Delete a lock whose run has ended or does not exist (a lock the chain cannot
        explain: locks are released in the transaction that ends their run); returns the run
        id it named, or None if the lock is fine or absent."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.locks.c.run_id, t.runs.c.status)
                .select_from(t.locks.outerjoin(t.runs, t.runs.c.id == t.locks.c.run_id))
                .where(t.locks.c.runbook == runbook, t.locks.c.environment == environment)
            ).first()
            if row is None or (row[1] is not None and row[1] not in TERMINAL):
                return None
            conn.execute(
                sa.delete(t.locks).where(
                    t.locks.c.runbook == runbook, t.locks.c.environment == environment
                )
            )
            return int(row[0])

    def lock_rows(self) -> list[tuple[str, str, int]]:
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(t.locks.c.runbook, t.locks.c.environment, t.locks.c.run_id)
            ).all()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

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
        decisions: Sequence[ApprovalRow] = (),
        revision: bool = False,
    ) -> EventRow:
        """Append one event and apply the state change it records, atomically.

        ``decisions`` (approvals, attestations) are written beside the event they belong to;
        with ``revision`` the run's revision is numbered and recorded (event
        ``revision.recorded``) in the same transaction, so a run never ends without it."""
        entry = Entry(actor, type, at, step, data or {}, run_values, step_update)
        with self._tx() as conn:
            event = self._append(conn, run_id, entry)
            if decisions:
                conn.execute(sa.insert(t.approvals), [_decision_values(d) for d in decisions])
            if revision:
                self._record_revision(conn, run_id, actor, at)
        if self.on_run_end is not None and (run_values or {}).get("status") in TERMINAL:
            try:
                self.on_run_end(self.events(run_id)[-1])
            except (OSError, RunwrightError) as exc:
                log.error("run %s: could not write its witness line: %s", run_id, exc)
        return event

    def _append(self, conn: Connection, run_id: int, e: Entry) -> EventRow:
        self._check_fence(conn, run_id)
        sets = _sets_of(e)
        data_text = _dumps({**e.data, "sets": sets} if sets else e.data)
        head = conn.execute(_HEAD, {"_rid": run_id}).first()
        if head is None:
            raise InputError(f"no run {run_id}")
        gseq, gprev = self._global_head(conn)
        sealed = Sealed(
            run_id, int(head[0]) + 1, e.at, e.actor, e.type, e.step, data_text, str(head[1]),
            gseq, gprev,
        )  # fmt: skip
        digest = seal(self.key, sealed)
        event_id = conn.execute(
            _ADD_EVENT,
            {
                "run_id": run_id,
                "seq": sealed.seq,
                "at": e.at,
                "actor": e.actor,
                "type": e.type,
                "step": e.step,
                "data": data_text,
                "prev_hash": sealed.prev_hash,
                "hash": digest,
                "gseq": gseq,
                "gprev": gprev,
            },
        ).scalar_one()
        conn.execute(
            sa.update(t.chain_head)
            .where(t.chain_head.c.id == 1)
            .values(gseq=gseq, head=digest, seal=head_seal(self.key, gseq, digest))
        )
        values: dict[str, Any] = {"event_count": sealed.seq, "head_hash": digest}
        values["updated_at"] = e.at
        if e.run_values:
            values.update(e.run_values)
            if "params" in values and not isinstance(values["params"], str):
                values["params"] = _dumps(values["params"])
        conn.execute(_SET_RUN, {"_rid": run_id, **values})
        if values.get("status") in TERMINAL:
            conn.execute(sa.delete(t.locks).where(t.locks.c.run_id == run_id))
        if e.step_update is not None:
            self._apply_step(conn, run_id, e.step_update)
        return EventRow(
            int(event_id), run_id, sealed.seq, e.at, e.actor, e.type, e.step, dict(e.data),
            data_text, sealed.prev_hash, digest, gseq, gprev, sets or None,
        )  # fmt: skip

    def _global_head(self, conn: Connection) -> tuple[int, str]:
        """The next store-wide sequence number and the hash it follows; refuses to extend a
        chain sealed with another key or whose head was altered."""
        row = conn.execute(_CHAIN).mappings().first()
        if row is None:
            last = conn.execute(sa.select(sa.func.max(t.events.c.gseq))).scalar()
            if last is not None:
                raise ChainError(
                    "the audit chain's head record is missing although sealed events exist",
                    hint="run: runwright audit verify (someone edited the database)",
                )
            conn.execute(
                sa.insert(t.chain_head).values(
                    id=1, gseq=0, head=GENESIS, key_id=self.key.key_id,
                    seal=head_seal(self.key, 0, GENESIS),
                )
            )  # fmt: skip
            return 1, GENESIS
        if row["key_id"] != self.key.key_id:
            raise ChainError(
                f"this database's audit chain is sealed with key {row['key_id']}, "
                f"but the key here is {self.key.key_id}",
                hint="use the audit key that sealed it (STATE_DIR/audit.key or "
                "RUNWRIGHT_AUDIT_KEY)",
            )
        if row["seal"] != head_seal(self.key, int(row["gseq"]), str(row["head"])):
            raise ChainError(
                "the audit chain's head does not match its seal: the log was cut or edited",
                hint="run: runwright audit verify",
            )
        return int(row["gseq"]) + 1, str(row["head"])

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

    def update_step(self, run_id: int, update: StepUpdate, *, durable: bool = True) -> None:
        """Change step state that is not audit-worthy on its own (live output, the process
        group a step started)."""
        with self._tx(durable=durable) as conn:
            self._check_fence(conn, run_id)
            self._apply_step(conn, run_id, update)

    def _check_fence(self, conn: Connection, run_id: int) -> None:
        """Refuse a write by this process to a run it drives once it no longer holds the run's
        lease at the epoch it acquired (taken over, or its lock broken). The row is locked
        until the write commits, so no takeover slips in between check and write."""
        fence = self.fences.get(run_id)
        if fence is None:
            return
        row = conn.execute(
            sa.select(t.runs.c.lease_owner, t.runs.c.lease_epoch)
            .where(t.runs.c.id == run_id)
            .with_for_update()
        ).first()
        if row is None or (row[0], int(row[1] or 0)) != fence:
            owner = row[0] if row is not None else None
            raise FencedError(
                f"run {run_id}: this process's lease (epoch {fence[1]}) was lost; "
                f"the run is now {'driven by ' + owner if owner else 'not driven by it'} "
                f"(epoch {row[1] if row is not None else '?'}): write refused",
                hint=f"this process stops acting on the run; see runwright status {run_id}",
            )

    def events(self, run_id: int) -> list[EventRow]:
        query = sa.select(t.events).where(t.events.c.run_id == run_id).order_by(t.events.c.seq)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [event_row(r) for r in rows]

    def chain_head(self) -> tuple[int, str, str, str] | None:
        """The store-wide head: (gseq, head hash, key id, seal), or None before any event."""
        with self._tx() as conn:
            row = conn.execute(sa.select(t.chain_head).where(t.chain_head.c.id == 1)).first()
        return (int(row.gseq), row.head, row.key_id, row.seal) if row else None

    # -- leases: which process drives a run -------------------------------------------------

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
                raise InputError(f"no run {run_id}")
            holder, expires = row[0], _utc(row[1])
            if holder and holder != owner and expires and expires > now and not owner_dead(holder):
                raise LockedError(
                    f"run {run_id} is being driven by {holder} (lease until {_ts(expires)})",
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

    # -- approvals and attestations ---------------------------------------------------------

    def approvals(self, run_id: int, gate: str | None = None) -> list[ApprovalRow]:
        """Approvals and attestations as the run's audit chain proves them: read from its
        sealed decision events (up to the first broken link), never from a row anyone with
        write access to the database could insert."""
        out = [
            a
            for e in proven(self.key, self.events(run_id))
            if e.type in DECISIONS
            for a in decisions_of(e)
        ]
        return [a for a in out if gate is None or a.gate == gate]

    def approval_rows(self, run_id: int | None = None) -> list[ApprovalRow]:
        """The approvals table as written (``audit verify`` compares it with the chain), or
        one run's rows of it."""
        query = sa.select(t.approvals).order_by(t.approvals.c.id)
        if run_id is not None:
            query = query.where(t.approvals.c.run_id == run_id)
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
                )  # fmt: skip
                for r in conn.execute(query).mappings()
            ]

    # -- revisions --------------------------------------------------------------------------

    def _record_revision(self, conn: Connection, run_id: int, actor: str, at: datetime) -> int:
        query = sa.select(t.runs).where(t.runs.c.id == run_id)
        run = _run_row(conn.execute(query).mappings().one())
        last = conn.execute(
            sa.select(sa.func.max(t.revisions.c.number)).where(
                t.revisions.c.runbook == run.runbook, t.revisions.c.environment == run.environment
            )
        ).scalar()
        number = int(last or 0) + 1
        # A product's revision is the set of its services' versions (the run's parameters).
        versions = run.params.get("versions")
        state = {"versions": versions} if isinstance(versions, dict) else {}
        schema = _schema_heads(conn, run_id)
        if schema:
            state["schema"] = schema
        conn.execute(
            sa.insert(t.revisions).values(
                runbook=run.runbook,
                environment=run.environment,
                number=number,
                version=run.version,
                run_id=run_id,
                runbook_digest=run.runbook_digest,
                deployed_by=run.initiator,
                at=at,
                state=_dumps(state),
            )
        )
        self._append(
            conn,
            run_id,
            Entry(
                actor, EventType.REVISION_RECORDED, at, None,
                {"revision": number, "version": run.version, **state}, {"revision": number},
            ),
        )  # fmt: skip
        return number

    def record_missing_revision(self, run_id: int, *, actor: str, at: datetime) -> int | None:
        """Number the revision of a run that succeeded without one (it ended before revisions
        were written in its final transaction); None if it has one or needs none."""
        with self._tx() as conn:
            found = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
            run = _run_row(found) if found is not None else None
            if run is None or run.status != RunStatus.SUCCEEDED or run.revision is not None:
                return None
            if run.kind not in REVISED_KINDS:
                return None
            return self._record_revision(conn, run_id, actor, at)

    def revisions(self, runbook: str, environment: str) -> list[RevisionRow]:
        """The environment's revisions, newest first: only those whose ``revision.recorded``
        event the chain proves (a row inserted by hand is ignored; audit verify reports it)."""
        proofs: dict[int, set[tuple[int, str]]] = {}
        out = []
        for r in self.revision_rows(runbook, environment):
            if r.run_id not in proofs:
                run = self.run_or_none(r.run_id)
                events = self.events(r.run_id) if run else []
                proofs[r.run_id] = {
                    (int(e.data.get("revision", 0)), str(e.data.get("version")))
                    for e in proven(self.key, events)
                    if e.type == EventType.REVISION_RECORDED
                }
            if (r.number, r.version) in proofs[r.run_id]:
                out.append(r)
        return out

    def run_or_none(self, run_id: int) -> RunRow | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        return _run_row(row) if row is not None else None

    def revision_rows(
        self, runbook: str | None = None, environment: str | None = None
    ) -> list[RevisionRow]:
        query = sa.select(t.revisions).order_by(t.revisions.c.number.desc())
        if runbook is not None:
            query = query.where(t.revisions.c.runbook == runbook)
        if environment is not None:
            query = query.where(t.revisions.c.environment == environment)
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
        legacy_until=int(r["legacy_until"] or 0),
        lease_epoch=int(r.get("lease_epoch") or 0),
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
                private_file(Path(path))  # SQLite gives its -wal and -shm files this mode
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
        # No transaction of ours waits on its client; one that does belongs to a process
        # paused or cut off mid-write, whose row locks would stall every worker: the server
        # ends it (and its locks) instead, and that process's write fails.
        options = f"-c idle_in_transaction_session_timeout={IDLE_TX_TIMEOUT_MS}"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
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


def _intact(key: ChainKey, events: Sequence[EventRow]) -> bool:
    """Whether ``events`` (a run's first ones) follow each other with valid hashes."""
    prev = GENESIS
    for expected, e in enumerate(events, start=1):
        if e.seq != expected or e.prev_hash != prev or not valid(key, e.sealed, e.hash):
            return False
        prev = e.hash
    return True


def resealed_until(key: ChainKey, events: Sequence[EventRow]) -> int:
    """How many of the run's first events were written before keyed chains and resealed at
    the upgrade (a sealed ``audit.resealed`` event names them); 0 when none were. Unkeyed
    events count for nothing else, whatever ``runs.legacy_until`` says."""
    until = 0
    for e in events:
        if e.type == RESEALED and e.gseq is not None and valid(key, e.sealed, e.hash):
            try:
                until = max(until, int(e.data.get("until", 0)))
            except (TypeError, ValueError):
                continue
    return until


def proven(key: ChainKey, events: Sequence[EventRow]) -> list[EventRow]:
    """The run's events up to the first one its chain does not prove (a missing, edited,
    unsealed or unlinked event ends the proof there; an unkeyed one counts only if resealed)."""
    out: list[EventRow] = []
    prev = GENESIS
    covered = resealed_until(key, events)
    for expected, e in enumerate(events, start=1):
        if e.seq != expected or e.prev_hash != prev:
            break
        if e.gseq is None and e.seq > covered:
            break
        if not valid(key, e.sealed, e.hash):
            break
        out.append(e)
        prev = e.hash
    return out


def decisions_of(e: EventRow) -> list[ApprovalRow]:
    """The approvals or attestations one decision event records."""
    gate = str(e.data.get("gate") or e.step or "")
    note = str(e.data.get("note", ""))
    via = str(e.data.get("via", "os"))
    if e.type == EventType.APPROVAL_GIVEN:
        return [ApprovalRow(e.run_id, gate, "approval", None, e.actor, note, e.at, via)]
    if "item" in e.data:
        items: list[int | None] = [e.data["item"]]
    elif isinstance(e.data.get("items"), list):
        items = list(e.data["items"])
    else:
        items = [None]
    return [ApprovalRow(e.run_id, gate, "attestation", i, e.actor, note, e.at, via) for i in items]


def locked_message(run: RunRow) -> tuple[str, str]:
    lease = ""
    if run.lease_owner and run.lease_expires:
        lease = f"; driven by {run.lease_owner}, lease until {_ts(run.lease_expires)}"
    return (
        f"{run.runbook}/{run.environment} is locked by run {run.id} ({run.status}, version "
        f"{run.version}, started by {run.initiator} at {_ts(run.created_at)}{lease})",
        f"see runwright status {run.id}; end it with runwright abort {run.id}, or if nobody "
        f"drives it: runwright unlock {run.runbook} {run.environment} --note '...' [--force]",
    )


def _sets_of(e: Entry) -> dict[str, Any]:
    """The row fields ``e`` sets that people and decisions read, as the event seals them."""
    sets: dict[str, Any] = {}
    given = e.run_values or {}
    run = {k: given[k] for k in SEALED_RUN_FIELDS if k in given}
    if run:
        sets["run"] = run
    update = e.step_update
    step = {k: update.values[k] for k in SEALED_STEP_FIELDS if update and k in update.values}
    if update is not None and step:
        sets["step"] = {"section": update.section, "idx": update.idx, **step}
    return sets


def _step_values(run_id: int, s: NewStep) -> dict[str, Any]:
    return {
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


def _decision_values(d: ApprovalRow) -> dict[str, Any]:
    return {
        "run_id": d.run_id,
        "gate": d.gate,
        "kind": d.kind,
        "item": d.item,
        "user": d.user,
        "note": d.note,
        "at": d.at,
    }


def _key_beside(url: str) -> ChainKey:
    path = url.split("///", 1)[-1] if url.startswith("sqlite") and "///" in url else ""
    if not path or path == ":memory:":
        raise InputError(
            f"no audit key given for {url}",
            hint="set RUNWRIGHT_AUDIT_KEY (64 hex digits) for a shared database",
        )
    return load_key(Path(path).parent, {})


def _schema_heads(conn: Connection, run_id: int) -> dict[str, str | None]:
    """Where each migration of the run left the schema, by step name: a revision records
    its schema head, so a rollback to it can bring the schema back there too."""
    query = sa.select(t.steps.c.name, t.steps.c.data).where(
        t.steps.c.run_id == run_id,
        t.steps.c.section == "main",
        t.steps.c.kind == "migrate",
        t.steps.c.status == StepStatus.SUCCEEDED,
    )
    heads: dict[str, str | None] = {}
    for name, data in conn.execute(query):
        record = json.loads(data or "{}").get("migration")
        if isinstance(record, dict) and "after" in record:
            heads[name] = record["after"]
    return heads
