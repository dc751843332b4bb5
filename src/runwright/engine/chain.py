"""The audit chain's keyed hashes, kept apart from the store that writes them.

An unkeyed SHA-256 chain only proves that nobody edited the log *by accident*: whoever can
write the database can recompute every hash. So each event is sealed with HMAC-SHA256 under a
key that lives outside the database (a 0600 file in the state directory, or a secret handed
to a server), and every event carries two links: to the previous event of its run and to the
previous event of the whole store (``gseq``/``gprev``). Rewriting a run without the key,
truncating its log, or deleting a whole run then breaks a seal or a link.

Events written before keyed chains existed (``gseq`` is NULL) keep their plain SHA-256 hash:
they are checked as before and reported as unkeyed, never as tampered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runwright.engine import constant_time
from runwright.errors import InputError

GENESIS = "0" * 64
KEY_FILE = "audit.key"
KEY_ENV = "RUNWRIGHT_AUDIT_KEY"


@dataclass(frozen=True)
class ChainKey:
    """The secret that seals events; ``key_id`` names it without revealing it."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"runwright-key-id:" + self.secret).hexdigest()[:16]


@dataclass(frozen=True)
class Sealed:
    """The fields an event's seal covers, in one place for writing and checking."""

    run_id: int
    seq: int
    at: datetime
    actor: str
    type: str
    step: str | None
    data_text: str
    prev_hash: str
    gseq: int | None = None
    gprev: str | None = None


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def legacy_hash(e: Sealed) -> str:
    """The unkeyed hash of events written before the chain was keyed."""
    body = json.dumps(
        [e.run_id, e.seq, stamp(e.at), e.actor, e.type, e.step, e.data_text, e.prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def seal(key: ChainKey, e: Sealed) -> str:
    body = json.dumps(
        [
            "event",
            e.run_id,
            e.seq,
            e.gseq,
            stamp(e.at),
            e.actor,
            e.type,
            e.step,
            e.data_text,
            e.prev_hash,
            e.gprev,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hmac.new(key.secret, body.encode(), hashlib.sha256).hexdigest()


def head_seal(key: ChainKey, gseq: int, head: str) -> str:
    """The seal of the store-wide head, so the newest event cannot be cut off unseen."""
    body = json.dumps(["head", gseq, head], separators=(",", ":"))
    return hmac.new(key.secret, body.encode(), hashlib.sha256).hexdigest()


def bundle_seal(key: ChainKey, body: str) -> str:
    return hmac.new(key.secret, b"bundle:" + body.encode(), hashlib.sha256).hexdigest()


def valid(key: ChainKey, e: Sealed, digest: str) -> bool:
    if e.gseq is None:
        return constant_time.equal(digest, legacy_hash(e))
    return constant_time.equal(digest, seal(key, e))


def load_key(state_dir: Path, environ: Mapping[str, str]) -> ChainKey:
    """The key from ``RUNWRIGHT_AUDIT_KEY`` (hex, 32+ bytes) or ``STATE_DIR/audit.key``,
    created with mode 0600 on first use."""
    given = environ.get(KEY_ENV, "").strip()
    if given:
        return ChainKey(_decode(given, KEY_ENV))
    path = state_dir / KEY_FILE
    try:
        return ChainKey(_decode(path.read_text().strip(), str(path)))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return ChainKey(_decode(path.read_text().strip(), str(path)))
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return ChainKey(bytes.fromhex(text))


def _decode(text: str, where: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) < 32:
        raise InputError(
            f"the audit key in {where} is not 64 or more hex digits",
            hint="restore the key that sealed this database (python -c 'import secrets; "
            "print(secrets.token_hex(32))' makes a new one for a new database)",
        )
    return raw
