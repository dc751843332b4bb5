"""The contract of a database a release protects, so backup steps never care which engine it is.

Every seed runbook backs up the database before a release and describes restoring it when a
migration goes wrong; few check that the backup restores at all. A ``Database`` does four
things, and each backup carries the evidence needed to prove it later:

    backup(dest_dir, run_id) -> BackupInfo   dump into ``dest_dir`` (made by the catalog) and
                                             write ``backup.json`` beside the dump
    verify(info)             -> VerifyResult the dump's sha256 still matches, and a scratch
                                             restore has the same row counts and checksums
    restore(info)                            put the dump back into the live database
    row_counts()             -> {table: n}   the live database now

``BackupInfo`` is what ``backup.json`` holds: the source with its password removed, size,
sha256, time, run id, per-table row counts and, for the tables the caller named, a checksum of
their rows in primary-key order. ``VerifyResult`` lists every difference in words a person can
act on. Engines raise ``DriverError`` (carrying the tool's stderr) when they cannot act;
``run_tool`` is the shared way to run a client program with a timeout that kills it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runwright.engine.clock import Clock
from runwright.engine.spawn import NotStarted, run_program
from runwright.errors import DriverError, InputError

logger = logging.getLogger(__name__)

METADATA_NAME = "backup.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class BackupInfo:
    """One backup: where its dump is, what it contained, and whether it was proven to restore.

    ``backup_id`` is the name of the backup's directory (``<timestamp>-<run>``). ``source`` is
    the database URL or file path without any password. ``kind`` is ``backup`` or ``safety``
    (taken automatically just before a restore). ``verified`` is None until a verification ran.
    """

    backup_id: str
    engine: str
    database: str
    source: str
    path: Path
    size_bytes: int
    sha256: str
    created_at: datetime
    run_id: str
    row_counts: Mapping[str, int]
    checksums: Mapping[str, str] = field(default_factory=dict)
    kind: str = "backup"
    verified: bool | None = None
    verified_at: datetime | None = None
    verify_differences: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def metadata_path(self) -> Path:
        return self.path.parent / METADATA_NAME

    def describe(self) -> str:
        state = {None: "not verified", True: "verified", False: "FAILED verification"}
        return (
            f"{self.database} backup {self.backup_id} ({self.size_bytes} bytes, "
            f"{sum(self.row_counts.values())} rows in {len(self.row_counts)} tables, "
            f"{state[self.verified]})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "backup_id": self.backup_id,
            "engine": self.engine,
            "database": self.database,
            "source": self.source,
            "file": self.path.name,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "run_id": self.run_id,
            "kind": self.kind,
            "row_counts": dict(sorted(self.row_counts.items())),
            "checksums": dict(sorted(self.checksums.items())),
            "notes": list(self.notes),
            "verification": None
            if self.verified is None
            else {
                "ok": self.verified,
                "at": self.verified_at.isoformat() if self.verified_at else None,
                "differences": list(self.verify_differences),
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], directory: Path) -> BackupInfo:
        verification = data.get("verification") or None
        at = verification.get("at") if verification else None
        return cls(
            backup_id=str(data["backup_id"]),
            engine=str(data["engine"]),
            database=str(data["database"]),
            source=str(data["source"]),
            path=directory / str(data["file"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            run_id=str(data["run_id"]),
            row_counts={str(k): int(v) for k, v in dict(data["row_counts"]).items()},
            checksums={str(k): str(v) for k, v in dict(data.get("checksums", {})).items()},
            kind=str(data.get("kind", "backup")),
            verified=bool(verification["ok"]) if verification else None,
            verified_at=datetime.fromisoformat(at) if at else None,
            verify_differences=tuple(verification.get("differences", ())) if verification else (),
            notes=tuple(str(n) for n in data.get("notes", ())),
        )


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a backup; ``differences`` says what did not match, one per line."""

    ok: bool
    backup_id: str
    checked_at: datetime
    differences: tuple[str, ...] = ()
    row_counts: Mapping[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        if self.ok:
            return f"backup {self.backup_id} restores with the same rows and checksums"
        return f"backup {self.backup_id} failed verification: " + "; ".join(self.differences)


@runtime_checkable
class Database(Protocol):
    """A database runwright can back up, prove, and restore. ``name`` names its catalog folder."""

    @property
    def name(self) -> str: ...

    async def backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        """Dump into ``dest_dir`` (which exists and is empty) and write ``backup.json`` there."""
        ...

    async def verify(self, info: BackupInfo) -> VerifyResult:
        """Check the sha256, restore into a scratch copy, compare rows; never touch the live one."""
        ...

    async def restore(self, info: BackupInfo) -> None:
        """Replace the live database's contents with the backup's (take a safety backup first)."""
        ...

    async def row_counts(self) -> dict[str, int]:
        """Rows per table in the live database now."""
        ...


def write_metadata(info: BackupInfo) -> Path:
    """Write ``backup.json`` beside the dump (atomically: a reader never sees half a file)."""
    target = info.metadata_path
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class Taken:
    """What a backup just read: the dump file written in the backup's directory, and the
    database's contents at that moment."""

    dump: Path
    created_at: datetime
    run_id: str
    counts: Mapping[str, int]
    checksums: Mapping[str, str]


def record_backup(
    taken: Taken, *, engine: str, database: str, source: str, checksummed: Iterable[str]
) -> BackupInfo:
    """Describe a dump just taken (its size, digest, and a note for each table named for a
    checksum that does not exist) in ``backup.json`` beside it, for every engine alike."""
    info = BackupInfo(
        backup_id=taken.dump.parent.name,
        engine=engine,
        database=database,
        source=source,
        path=taken.dump,
        size_bytes=taken.dump.stat().st_size,
        sha256=file_sha256(taken.dump),
        created_at=taken.created_at,
        run_id=taken.run_id,
        row_counts=taken.counts,
        checksums=taken.checksums,
        notes=checksum_notes(checksummed, taken.checksums),
    )
    write_metadata(info)
    logger.info("backed up %s to %s", database, taken.dump)
    return info


def read_metadata(directory: Path) -> BackupInfo:
    """The backup whose ``backup.json`` is in ``directory``; InputError when it is unreadable."""
    path = directory / METADATA_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return BackupInfo.from_json(data, directory)
    except FileNotFoundError as exc:
        raise InputError(f"{directory} holds no backup ({METADATA_NAME} is missing)") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a readable backup description: {exc}") from exc


def record_verification(info: BackupInfo, result: VerifyResult) -> BackupInfo:
    """Store the outcome of ``verify`` in ``backup.json`` and return the updated info."""
    updated = replace(
        info,
        verified=result.ok,
        verified_at=result.checked_at,
        verify_differences=result.differences,
    )
    write_metadata(updated)
    return updated


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_notes(named: Iterable[str], checksums: Mapping[str, str]) -> tuple[str, ...]:
    """A note for each table named for a checksum that the database does not have.

    Not an error: a safety backup must succeed whatever state the database is in.
    """
    return tuple(
        f"table {name} (named for a row checksum) does not exist; its rows were not checksummed"
        for name in named
        if name not in checksums
    )


def compare_contents(
    info: BackupInfo, counts: Mapping[str, int], checksums: Mapping[str, str]
) -> tuple[str, ...]:
    """Every way ``counts``/``checksums`` (read from a restored copy) differ from the backup's."""
    differences: list[str] = []
    for table in sorted(set(info.row_counts) | set(counts)):
        expected, found = info.row_counts.get(table), counts.get(table)
        if expected is None:
            differences.append(f"table {table} is in the restored copy but was not backed up")
        elif found is None:
            differences.append(f"table {table} is missing from the restored copy")
        elif expected != found:
            differences.append(
                f"table {table} has {found} rows restored, {expected} when backed up"
            )
    for table, expected_sum in sorted(info.checksums.items()):
        found_sum = checksums.get(table)
        if found_sum != expected_sum:
            differences.append(f"table {table} rows differ from the backup (checksum mismatch)")
    return tuple(differences)


def sha256_mismatch(info: BackupInfo) -> str | None:
    """Why the dump file no longer matches its recorded sha256 and size, or None if it does."""
    if not info.path.exists():
        return f"the dump file {info.path} is missing"
    actual = file_sha256(info.path)
    if actual != info.sha256:
        return (
            f"the dump file's sha256 is {actual[:12]}..., the backup recorded "
            f"{info.sha256[:12]}...: the file was changed or is corrupt"
        )
    return None


@dataclass(frozen=True)
class ToolOutput:
    stdout: str
    stderr: str


async def run_tool(
    argv: Sequence[str],
    *,
    what: str,
    time_limit: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    clock: Clock,
) -> ToolOutput:
    """Run a client program; DriverError with the end of its stderr when it fails or times out.

    The program runs in its own process group, killed whole on timeout or cancellation so a
    stuck ``pg_restore`` never outlives the step that started it. ``env`` None inherits.
    """
    try:
        done = await run_program(
            argv, timeout=time_limit, clock=clock, stdin=stdin, cwd=cwd, env=env
        )
    except NotStarted as exc:
        raise DriverError(
            f"cannot start {argv[0]} to {what}: {exc.error}",
            retryable=False,
            hint="check that the program is installed",
        ) from exc
    except TimeoutError as exc:
        raise DriverError(
            f"{what} did not finish within {time_limit:g}s and was stopped",
            hint="raise the timeout, or look for locks held by other sessions",
        ) from exc
    stderr = done.err
    if done.code != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:]) or "(no output on stderr)"
        raise DriverError(f"{what} failed (exit status {done.code}): {tail}")
    if stderr.strip():
        logger.debug("%s wrote to stderr: %s", what, stderr.strip()[-2000:])
    return ToolOutput(done.out, stderr)
