"""What a run's audit chain proves: its events up to the first broken link, the events resealed
at the keyed-chain upgrade, and the decisions (approvals, attestations) its sealed events record.

Pure functions over events already read; the store (approvals, revisions) and the audit
(engine/audit.py) both trust a row only as far as these say the chain proves it.
"""

from __future__ import annotations

from collections.abc import Sequence

from runwright.engine.chain import GENESIS, ChainKey, valid
from runwright.engine.rows import ApprovalRow, EventRow
from runwright.model.event_type import EventType

DECISIONS = frozenset({EventType.APPROVAL_GIVEN, EventType.GATE_ATTESTED})
RESEALED = EventType.AUDIT_RESEALED


def intact(key: ChainKey, events: Sequence[EventRow]) -> bool:
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
