"""Witness lines: the chain's head, written where the database's owner cannot rewrite it.

The keyed chain stops someone who can write the database but lacks the key. Whoever holds the
key (or replaces it, or rolls the whole database back) can rewrite history and reseal it. A
witness defeats that: each run's final head, with the store-wide position it reached, is
appended as one signed line to a file opened append-only (``O_APPEND``), which should live
where the database's owner cannot rewrite it (another machine's mount, a file with
``chattr +a``, a log shipper's input). ``audit verify --witness FILE`` then checks that every
witnessed head is still in the database: a rewritten, truncated or deleted run, a store cut
back or a deleted ``chain_head``, and a line signed with another key (the key was replaced)
are each reported.

A line is signed with the audit key (HMAC), so a line added by someone without the key is
found; its strength is that it cannot be taken back, not the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runwright.engine import constant_time
from runwright.engine.audit import Links
from runwright.engine.chain import ChainKey, stamp
from runwright.engine.store import EventRow, Store
from runwright.errors import InputError

FORMAT = "runwright-witness/1"


@dataclass(frozen=True)
class Witness:
    """Where this process appends its witness lines."""

    path: Path
    key: ChainKey

    def run_ended(self, event: EventRow) -> None:
        """Witness a run's final event (its head, and the store-wide head it made)."""
        self._append({"kind": "run", "run": event.run_id, "seq": event.seq, "head": event.hash,
                      "gseq": event.gseq, "at": stamp(event.at)})  # fmt: skip

    def store_head(self, head: tuple[int, str, str, str] | None, at: datetime) -> str:
        """Witness the store-wide head as it stands; returns what was written."""
        gseq, digest = (head[0], head[1]) if head else (0, "")
        return self._append({"kind": "store", "gseq": gseq, "head": digest, "at": stamp(at)})

    def _append(self, body: dict[str, Any]) -> str:
        line = signed(self.key, body)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return line


def signed(key: ChainKey, body: dict[str, Any]) -> str:
    full = {"format": FORMAT, "key_id": key.key_id, **body}
    full["sig"] = _sig(key, full)
    return json.dumps(full, sort_keys=True, separators=(",", ":"))


def _sig(key: ChainKey, body: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in body.items() if k != "sig"}, sort_keys=True,
                      separators=(",", ":"))  # fmt: skip
    return hmac.new(key.secret, b"witness:" + text.encode(), hashlib.sha256).hexdigest()


def lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, parsed line or None when it is not a witness line)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(
            f"cannot read witness file {path}: {exc.strerror}",
            hint="pass the file RUNWRIGHT_WITNESS names",
        ) from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        yield number, parsed if isinstance(parsed, dict) else None


def check(store: Store, path: Path) -> tuple[int, list[str]]:
    """(lines checked, one problem per witnessed head the database no longer holds)."""
    problems: list[str] = []
    checked = 0
    by_gseq = _heads_by_gseq(store)
    head = store.chain_head()
    for number, line in lines(path):
        where = f"{path}:{number}"
        if line is None or line.get("format") != FORMAT:
            problems.append(f"{where}: not a runwright witness line")
            continue
        checked += 1
        problem = _signature(store.key, line) or _line_problem(store, line, by_gseq, head)
        if problem:
            problems.append(f"{where} ({line.get('at', '?')}): {problem}")
    return checked, problems


def _signature(key: ChainKey, line: dict[str, Any]) -> str | None:
    if line.get("key_id") != key.key_id:
        return (
            f"signed with audit key {line.get('key_id')}, not the key here ({key.key_id}): "
            "the key was replaced (and the history perhaps resealed with it)"
        )
    if not constant_time.equal(str(line.get("sig", "")), _sig(key, line)):
        return "its signature does not match: the line was forged or edited"
    return None


def _line_problem(
    store: Store,
    line: dict[str, Any],
    by_gseq: dict[int, str],
    head: tuple[int, str, str, str] | None,
) -> str | None:
    gseq, digest = line.get("gseq"), str(line.get("head", ""))
    if line.get("kind") == "run":
        problem = _run_problem(store, int(line.get("run", 0)), int(line.get("seq", 0)), digest)
        if problem:
            return problem
    if not isinstance(gseq, int) or gseq == 0:
        return None
    if head is None:
        return f"the store-wide head record (chain_head) is gone, but event {gseq} was witnessed"
    if head[0] < gseq:
        return (
            f"the store-wide chain ends at event {head[0]}, but event {gseq} was witnessed: "
            "later history was cut off"
        )
    if by_gseq.get(gseq) != digest:
        return f"store-wide event {gseq} is not the one witnessed: the history was rewritten"
    return None


def _run_problem(store: Store, run_id: int, seq: int, digest: str) -> str | None:
    if store.run_or_none(run_id) is None:
        return f"run {run_id} was deleted (the witness saw it end with event #{seq})"
    events = store.events(run_id)
    if len(events) < seq:
        return f"run {run_id} was truncated: the witness saw {seq} events, {len(events)} remain"
    if events[seq - 1].seq != seq or events[seq - 1].hash != digest:
        return f"run {run_id}'s history was rewritten: event #{seq} is not the one witnessed"
    return None


def _heads_by_gseq(store: Store) -> dict[int, str]:
    return {g: link.hash for g, link in Links.load(store).by_gseq.items()}
