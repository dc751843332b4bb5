"""The journal: appending a run's hash-chained events, each with the state change it records.

Every state change of a run is one transaction that appends an event (sealed into the run's
chain and the store-wide one) and updates the current-state rows beside it, so the audit trail
and the state can never disagree. A process that lost a run's lease is fenced off here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runwright.engine import tables as t
from runwright.engine.chain import GENESIS, Sealed, head_seal, seal
from runwright.engine.rows import (
    ApprovalRow,
    Entry,
    EventRow,
    StepUpdate,
    decision_values,
    dumps,
    event_row,
    run_row,
)
from runwright.engine.storebase import ChainError, StoreBase
from runwright.errors import FencedError, NotFoundError, RunwrightError
from runwright.model.event_type import EventType
from runwright.model.status import TERMINAL, StepStatus

log = logging.getLogger(__name__)

# The row fields people and decisions read, sealed into the event that sets them (its data's
# ``sets``), so every such row can be checked against the chain (engine/support.py).
SEALED_RUN_FIELDS = ("status", "failure", "abort_requested", "revision")
SEALED_STEP_FIELDS = ("status", "undo_status", "summary")

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


class Journal(StoreBase):
    """Events appended with their state changes, and read back in order."""

    def append_within(self, conn: Connection, run_id: int, entry: Entry) -> EventRow:
        """Journal ``entry`` inside the caller's transaction (``transaction()``)."""
        return self._append(conn, run_id, entry)

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
                conn.execute(sa.insert(t.approvals), [decision_values(d) for d in decisions])
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
        data_text = dumps({**e.data, "sets": sets} if sets else e.data)
        head = conn.execute(_HEAD, {"_rid": run_id}).first()
        if head is None:
            raise NotFoundError(f"no run {run_id}")
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
                values["params"] = dumps(values["params"])
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
            values["data"] = dumps(values["data"])
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

    def _record_revision(self, conn: Connection, run_id: int, actor: str, at: datetime) -> int:
        query = sa.select(t.runs).where(t.runs.c.id == run_id)
        run = run_row(conn.execute(query).mappings().one())
        last = conn.execute(
            sa.select(sa.func.max(t.revisions.c.number)).where(
                t.revisions.c.runbook == run.runbook, t.revisions.c.environment == run.environment
            )
        ).scalar()
        number = int(last or 0) + 1
        # A product's revision is the set of its services' versions (the run's parameters).
        versions = run.params.get("versions")
        state: dict[str, Any] = {"versions": versions} if isinstance(versions, dict) else {}
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
                state=dumps(state),
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
