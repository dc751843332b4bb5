"""An in-memory database behind the ``Database`` contract, for step tests and the demo.

It keeps tables as lists of rows, writes real dump files and ``backup.json`` (so the catalog,
retention and verification records work on it unchanged), and can be told to fail the next
call of an operation, the way a real server fails: with a ``DriverError``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runwright.databases.base import (
    BackupInfo,
    VerifyResult,
    checksum_notes,
    compare_contents,
    file_sha256,
    sha256_mismatch,
    write_metadata,
)
from runwright.engine.clock import Clock
from runwright.errors import DriverError

Row = tuple[Any, ...]


def _checksum(rows: Sequence[Row]) -> str:
    digest = hashlib.sha256()
    for row in sorted(rows, key=repr):
        digest.update(repr(tuple(row)).encode("utf-8") + b"\n")
    return digest.hexdigest()


class FakeDatabase:
    """Tables in memory. ``fail`` maps an operation name to the message of its next failure."""

    engine = "fake"

    def __init__(
        self,
        clock: Clock,
        *,
        name: str = "fake",
        tables: Mapping[str, Sequence[Row]] | None = None,
        checksum_tables: Sequence[str] = (),
    ) -> None:
        self._clock = clock
        self._name = name
        self.tables: dict[str, list[Row]] = {k: list(v) for k, v in (tables or {}).items()}
        self.checksum_tables = tuple(checksum_tables)
        self.fail: dict[str, str] = {}
        self.calls: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    async def backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        self._enter("backup")
        dump = dest_dir / "database.json"
        dump.write_text(json.dumps({k: [list(r) for r in v] for k, v in self.tables.items()}))
        sums = {t: _checksum(self.tables[t]) for t in self.checksum_tables if t in self.tables}
        info = BackupInfo(
            backup_id=dest_dir.name,
            engine=self.engine,
            database=self.name,
            source=f"memory:{self.name}",
            path=dump,
            size_bytes=dump.stat().st_size,
            sha256=file_sha256(dump),
            created_at=self._clock.now(),
            run_id=run_id,
            row_counts={k: len(v) for k, v in self.tables.items()},
            checksums=sums,
            notes=checksum_notes(self.checksum_tables, sums),
        )
        write_metadata(info)
        return info

    async def verify(self, info: BackupInfo) -> VerifyResult:
        self._enter("verify")
        mismatch = sha256_mismatch(info)
        if mismatch:
            return VerifyResult(False, info.backup_id, self._clock.now(), (mismatch,))
        tables = self._load(info)
        counts = {k: len(v) for k, v in tables.items()}
        sums = {t: _checksum(tables[t]) for t in info.checksums if t in tables}
        differences = compare_contents(info, counts, sums)
        return VerifyResult(not differences, info.backup_id, self._clock.now(), differences, counts)

    async def restore(self, info: BackupInfo) -> None:
        self._enter("restore")
        self.tables = self._load(info)

    async def row_counts(self) -> dict[str, int]:
        self._enter("row_counts")
        return {k: len(v) for k, v in self.tables.items()}

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        message = self.fail.pop(operation, None)
        if message is not None:
            raise DriverError(message)

    @staticmethod
    def _load(info: BackupInfo) -> dict[str, list[Row]]:
        try:
            data = json.loads(info.path.read_text())
        except (OSError, ValueError) as exc:
            raise DriverError(f"cannot read the fake dump {info.path}: {exc}") from exc
        return {str(k): [tuple(r) for r in v] for k, v in data.items()}
