"""Checking the audit chain: one run, the whole store, or an exported bundle.

A run's events must follow each other (``seq``, ``prev_hash``), each carry a valid seal, and
link store-wide to the events written just before and after them (``gseq``/``gprev``), with
the newest one named by the sealed store-wide head. That is what catches a log rewritten
without the key, a truncated log and a deleted run. Rows that gates could be fooled by
(approvals, revisions) must each match a sealed event; the store ignores those that do not,
and this module names them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from runwright.engine import constant_time
from runwright.engine import tables as t
from runwright.engine.chain import GENESIS, ChainKey, Sealed, bundle_seal, head_seal, stamp, valid
from runwright.engine.store import (
    ApprovalRow,
    EventRow,
    RevisionRow,
    RunRow,
    StepRow,
    Store,
    decisions_of,
    proven,
    resealed_until,
)
from runwright.engine.support import UNSUPPORTED, Support
from runwright.model.event_type import EventType

BUNDLE_FORMAT = "runwright-audit-bundle/1"


class RunHead(Protocol):
    """What a run row records about its own chain (a bundle carries the same)."""

    @property
    def event_count(self) -> int: ...

    @property
    def head_hash(self) -> str: ...

    @property
    def legacy_until(self) -> int: ...


@dataclass(frozen=True)
class Head:
    event_count: int
    head_hash: str
    legacy_until: int


@dataclass(frozen=True)
class Link:
    gseq: int
    run_id: int
    seq: int
    hash: str
    gprev: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str
    problems: tuple[str, ...] = ()
    unkeyed: int = 0


@dataclass
class Links:
    """Every sealed event's store-wide position, and the sealed head."""

    by_gseq: dict[int, Link] = field(default_factory=dict)
    head: tuple[int, str, str, str] | None = None

    @classmethod
    def load(cls, store: Store) -> Links:
        query = sa.select(
            t.events.c.gseq, t.events.c.run_id, t.events.c.seq, t.events.c.hash, t.events.c.gprev
        ).where(t.events.c.gseq.is_not(None))
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
        links = {int(r[0]): Link(int(r[0]), int(r[1]), int(r[2]), r[3], r[4] or "") for r in rows}
        return cls(links, store.chain_head())

    def around(self, e: EventRow) -> list[str]:
        """What is wrong with the store-wide links before and after one sealed event."""
        assert e.gseq is not None
        out = []
        before = self.by_gseq.get(e.gseq - 1)
        expected = GENESIS if e.gseq == 1 else (before.hash if before else None)
        if expected is None:
            out.append(
                f"event #{e.seq} ({e.type}) follows store-wide event {e.gseq - 1}, which is "
                "missing: events or a whole run were deleted"
            )
        elif e.gprev != expected:
            out.append(f"event #{e.seq} ({e.type}) does not follow store-wide event {e.gseq - 1}")
        head_gseq = self.head[0] if self.head else 0
        if e.gseq + 1 not in self.by_gseq and e.gseq != head_gseq:
            out.append(
                f"event #{e.seq} ({e.type}) is store-wide event {e.gseq}, but event "
                f"{e.gseq + 1} is missing: later events were deleted"
            )
        return out

    def store_wide(self, key: ChainKey) -> list[str]:
        """Breaks in the whole store's sequence and head."""
        if self.head is None:
            return ["sealed events exist but the chain head is missing"] if self.by_gseq else []
        gseq, head, key_id, head_mac = self.head
        problems = []
        if key_id != key.key_id:
            return [f"the store is sealed with key {key_id}, not the key here ({key.key_id})"]
        if not constant_time.equal(head_mac, head_seal(key, gseq, head)):
            problems.append("the store-wide head was altered (its seal does not match)")
        present = sorted(self.by_gseq)
        missing = sorted(set(range(1, gseq + 1)) - set(present))
        if missing:
            problems.append(
                f"store-wide events {_ranges(missing)} are missing: events or a whole run "
                "were deleted"
            )
        last = self.by_gseq.get(gseq)
        if last is None or last.hash != head:
            problems.append(f"the newest event does not match the sealed head (event {gseq})")
        if present and present[-1] > gseq:
            problems.append(f"events after the sealed head ({gseq}) were added without the key")
        return problems


def verify_chain(
    key: ChainKey, events: Sequence[EventRow], run: RunHead, links: Links | None = None
) -> Verdict:
    """Check one run's chain; the message names the first bad event."""
    prev = GENESIS
    unkeyed = 0
    covered = resealed_until(key, events)
    for expected, ev in enumerate(events, start=1):
        label = f"{ev.type}{', step ' + ev.step if ev.step else ''}"
        if ev.seq != expected:
            return _bad(
                f"event {expected} is missing (next present is #{ev.seq}, {ev.type}): "
                "events were deleted"
            )
        if ev.prev_hash != prev:
            return _bad(f"event #{ev.seq} ({ev.type}) does not follow #{ev.seq - 1}: chain broken")
        if ev.gseq is None:
            if ev.seq > covered:
                return _bad(
                    f"event #{ev.seq} ({label}) is not sealed with the audit key: it was "
                    "written or rewritten without it (only events resealed at the upgrade "
                    "to keyed chains may be unkeyed)"
                )
            unkeyed += 1
        if not valid(key, ev.sealed, ev.hash):
            return _bad(
                f"event #{ev.seq} ({label}) was edited: its content does not match its hash"
            )
        prev = ev.hash
    if len(events) != run.event_count:
        return _bad(
            f"the run records {run.event_count} events but {len(events)} remain: "
            f"event {len(events) + 1} onwards was deleted"
        )
    if prev != run.head_hash:
        return _bad("the last event does not match the run's recorded chain head")
    for ev in events:
        problems = links.around(ev) if links is not None and ev.gseq is not None else []
        if problems:
            return _bad(problems[0])
    text = f"{len(events)} events, chain intact (head {prev[:12]})"
    if unkeyed:
        text += (
            f"; {unkeyed} written before keyed chains were checked and resealed at the "
            "upgrade (they prove what the database held then)"
        )
    return Verdict(True, text, unkeyed=unkeyed)


def _bad(message: str) -> Verdict:
    return Verdict(False, message, (message,))


@dataclass(frozen=True)
class Snapshot:
    """A run's row, events, steps and decision rows as of one moment: read between two reads
    of the run's event count that agree (every write of these comes with an event), so a
    write landing mid-read is never mistaken for tampering."""

    run: RunRow
    events: list[EventRow]
    steps: list[StepRow]
    approvals: list[ApprovalRow]
    revisions: list[RevisionRow]

    @classmethod
    def read(cls, store: Store, run_id: int, attempts: int = 5) -> Snapshot:
        for _ in range(attempts):
            run = store.run(run_id)
            snap = cls(
                run,
                store.events(run_id),
                store.steps(run_id),
                store.approval_rows(run_id),
                store.revision_rows(run.runbook, run.environment),
            )
            if store.run(run_id).event_count == run.event_count:
                break
        return snap


def verify_run(store: Store, run_id: int, links: Links | None = None) -> Verdict:
    """One run: its chain, its store-wide links, and the decision rows beside it."""
    links = links or Links.load(store)
    if links.head is not None and links.head[2] != store.key.key_id:
        return _bad(
            f"the store is sealed with audit key {links.head[2]}, but the key here is "
            f"{store.key.key_id}: verify with the key that sealed it (STATE_DIR/audit.key "
            "or RUNWRIGHT_AUDIT_KEY)"
        )
    snap = Snapshot.read(store, run_id)
    verdict = verify_chain(store.key, snap.events, snap.run, links)
    forged = forged_rows(store.key, snap)
    if not forged:
        return verdict
    problems = (*verdict.problems, *forged)
    message = verdict.message if not verdict.ok else forged[0]
    return Verdict(False, message + ("" if len(problems) == 1 else f" (+{len(problems) - 1})"),
                   problems, verdict.unkeyed)  # fmt: skip


def check_run(store: Store, run_id: int) -> Verdict:
    """One run's own chain and the rows beside it, without the store-wide links (cheap
    enough to run before driving a run: a run its chain does not support is not driven)."""
    snap = Snapshot.read(store, run_id)
    verdict = verify_chain(store.key, snap.events, snap.run)
    if not verdict.ok:
        return verdict
    forged = forged_rows(store.key, snap)
    return _bad(forged[0]) if forged else verdict


def unsupported_rows(store: Store, run_id: int) -> list[str]:
    """What a person reading the run and its steps must be told the chain does not support:
    a field its events did not set, or everything after a broken link."""
    snap = Snapshot.read(store, run_id)
    good = proven(store.key, snap.events)
    problems = Support.of(good).problems(snap.run, snap.steps)
    if len(good) < len(snap.events):
        problems.insert(
            0,
            f"the audit chain breaks at event #{len(good) + 1}: what it and later events set "
            f"is {UNSUPPORTED} (see runwright audit verify {run_id})",
        )
    return problems


def forged_rows(key: ChainKey, snap: Snapshot) -> list[str]:
    """Rows of the run the chain does not support: approvals and revisions no sealed event
    records (ignored by gates), and a run status or step outcome its events did not set."""
    run = snap.run
    good = proven(key, snap.events)
    out = Support.of(good).problems(run, snap.steps)
    proved = [_key(a) for e in good if e.type in {EventType.APPROVAL_GIVEN, EventType.GATE_ATTESTED}
              for a in decisions_of(e)]  # fmt: skip
    for row in snap.approvals:
        if _key(row) in proved:
            proved.remove(_key(row))
            continue
        out.append(
            f"{row.kind} row ignored: {row.user} for '{row.gate}' at {stamp(row.at)} is not "
            "proven by the chain (forged, or its event was deleted)"
        )
    revisions = {
        (e.data.get("revision"), e.data.get("version"))
        for e in good
        if e.type == EventType.REVISION_RECORDED
    }
    for rev in snap.revisions:
        if rev.run_id == run.id and (rev.number, rev.version) not in revisions:
            out.append(
                f"revision row ignored: revision {rev.number} ({rev.version}) is not proven "
                "by the chain (forged, or its event was deleted)"
            )
    return out


def _key(a: ApprovalRow) -> tuple[str, str, int | None, str]:
    return (a.gate, a.kind, a.item, a.user)


def verify_store(store: Store) -> tuple[bool, list[str]]:
    """Every run and the store-wide chain; returns (ok, one line per run or problem)."""
    links = Links.load(store)
    lines = []
    ok = True
    for problem in links.store_wide(store.key):
        ok = False
        lines.append(f"store: TAMPERED: {problem}")
    known = {r.id for r in store.runs(limit=10**9)}
    for run_id in sorted(known):
        verdict = verify_run(store, run_id, links)
        ok = ok and verdict.ok
        state = "OK" if verdict.ok else "TAMPERED"
        lines.append(f"run {run_id}: {state}: {verdict.message}")
    orphans = sorted({link.run_id for link in links.by_gseq.values()} - known)
    for run_id in orphans:
        ok = False
        lines.append(f"run {run_id}: TAMPERED: its events remain but the run was deleted")
    active = {r.id for r in store.runs(active=True, limit=10**9)}
    for runbook, environment, run_id in store.lock_rows():
        if run_id not in active:
            ok = False
            lines.append(f"lock {runbook}/{environment}: TAMPERED: names run {run_id}, which "
                         "is not active (locks end in their run's final transaction)")  # fmt: skip
    for row in store.approval_rows():
        if row.run_id not in known:
            ok = False
            lines.append(f"run {row.run_id}: TAMPERED: forged {row.kind} row for a run that "
                         "does not exist")  # fmt: skip
    return ok, lines


# -- bundles ---------------------------------------------------------------------------------


def export_bundle(store: Store, run_id: int, report: str) -> dict[str, Any]:
    """A self-contained, signed copy of one run's trail: events, report, key id, verdict."""
    run = store.run(run_id)
    verdict = verify_run(store, run_id)
    body: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "key_id": store.key.key_id,
        "run": {
            "id": run.id,
            "runbook": run.runbook,
            "environment": run.environment,
            "version": run.version,
            "status": run.status,
            "initiator": run.initiator,
            "event_count": run.event_count,
            "head_hash": run.head_hash,
            "legacy_until": run.legacy_until,
        },
        "verified_at_export": {"ok": verdict.ok, "message": verdict.message},
        "events": [_event_json(e) for e in store.events(run_id)],
        "report": report,
    }
    body["signature"] = bundle_seal(store.key, _canonical(body))
    return body


def verify_bundle(key: ChainKey, bundle: Any) -> Verdict:
    """Check a bundle offline: its signature, then its events' seals and links."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        return _bad(f"not a runwright audit bundle (expected format {BUNDLE_FORMAT})")
    if bundle.get("key_id") != key.key_id:
        return _bad(f"the bundle was sealed with key {bundle.get('key_id')}, not {key.key_id}")
    body = {k: v for k, v in bundle.items() if k != "signature"}
    signature = bundle_seal(key, _canonical(body))
    if not constant_time.equal(str(bundle.get("signature", "")), signature):
        return _bad("the bundle's signature does not match: it was edited after export")
    try:
        events = [_event_of(e) for e in bundle["events"]]
        info = bundle["run"]
        run = Head(int(info["event_count"]), str(info["head_hash"]), int(info["legacy_until"]))
    except (KeyError, TypeError, ValueError) as exc:
        return _bad(f"the bundle is incomplete: {exc}")
    verdict = verify_chain(key, events, run)
    if not verdict.ok:
        return verdict
    return Verdict(True, f"run {info['id']}: {verdict.message}; bundle signature valid")


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _event_json(e: EventRow) -> dict[str, Any]:
    return {
        "run_id": e.run_id,
        "seq": e.seq,
        "at": stamp(e.at),
        "actor": e.actor,
        "type": e.type,
        "step": e.step,
        "data": e.data_text,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "gseq": e.gseq,
        "gprev": e.gprev,
    }


def _event_of(d: dict[str, Any]) -> EventRow:
    at = datetime.strptime(d["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    sealed = Sealed(int(d["run_id"]), int(d["seq"]), at, d["actor"], d["type"], d["step"],
                    d["data"], d["prev_hash"], d["gseq"], d["gprev"])  # fmt: skip
    return EventRow(0, sealed.run_id, sealed.seq, at, sealed.actor, sealed.type, sealed.step,
                    json.loads(sealed.data_text), sealed.data_text, sealed.prev_hash, d["hash"],
                    sealed.gseq, sealed.gprev)  # fmt: skip


def _ranges(numbers: list[int]) -> str:
    parts = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
