"""backup.json round trips, comparisons read as sentences, and client tools fail loudly."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from runwright.databases.base import (
    BackupInfo,
    compare_contents,
    read_metadata,
    run_tool,
    write_metadata,
)
from runwright.databases.postgres import find_tool, libpq_conninfo
from runwright.engine.clock import SystemClock
from runwright.errors import DriverError, InputError


def _info(tmp_path: Path) -> BackupInfo:
    dump = tmp_path / "database.dump"
    dump.write_bytes(b"x")
    return BackupInfo(
        backup_id=tmp_path.name,
        engine="postgres",
        database="app",
        source="postgresql://app@db/app",
        path=dump,
        size_bytes=1,
        sha256="0" * 64,
        created_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
        run_id="r1",
        row_counts={"users": 3, "orders": 0},
        checksums={"users": "abc"},
        notes=("a note",),
    )


def test_metadata_round_trips(tmp_path: Path) -> None:
    info = _info(tmp_path)
    write_metadata(info)
    assert read_metadata(tmp_path) == info
    assert (
        info.describe() == f"app backup {tmp_path.name} (1 bytes, 3 rows in 2 tables, not verified)"
    )


def test_a_directory_without_metadata_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="backup.json is missing"):
        read_metadata(tmp_path)
    (tmp_path / "backup.json").write_text("{}")
    with pytest.raises(InputError, match="not a readable backup description"):
        read_metadata(tmp_path)


def test_differences_are_sentences(tmp_path: Path) -> None:
    info = _info(tmp_path)
    found = compare_contents(info, {"users": 2, "extra": 1}, {"users": "abd"})
    assert found == (
        "table extra is in the restored copy but was not backed up",
        "table orders is missing from the restored copy",
        "table users has 2 rows restored, 3 when backed up",
        "table users rows differ from the backup (checksum mismatch)",
    )
    assert compare_contents(info, {"users": 3, "orders": 0}, {"users": "abc"}) == ()


async def test_a_failing_tool_carries_its_stderr() -> None:
    with pytest.raises(DriverError, match=r"dump failed \(exit status 2\): no such table: x"):
        await run_tool(
            ["/bin/sh", "-c", "echo 'no such table: x' >&2; exit 2"],
            what="dump",
            time_limit=5,
            clock=SystemClock(),
        )


async def test_a_tool_past_its_time_limit_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(DriverError, match="did not finish within 0.3s"):
        await run_tool(
            ["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"],
            what="dump",
            time_limit=0.3,
            clock=SystemClock(),
        )
    child = int(pidfile.read_text())
    for _ in range(50):
        if _gone(child):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the tool's child outlived the time limit")


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (gone, or a zombie awaiting its reaper)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_missing_tools_and_bad_urls_are_explained(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=f"pg_dump is not in {tmp_path}"):
        find_tool("pg_dump", tmp_path)
    params = conninfo_to_dict(libpq_conninfo("postgresql+psycopg://u:p@db:5432/app"))
    assert (params["dbname"], params["host"], params["password"]) == ("app", "db", "p")
    with pytest.raises(InputError, match="not a PostgreSQL connection URL"):
        libpq_conninfo("postgresql://db:5432/app?bogus=1")
