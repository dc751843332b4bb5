"""The backup catalog on the fake database: layout, lookup, retention, restore with safety."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runwright.databases.base import BackupInfo, read_metadata
from runwright.databases.catalog import (
    BackupCatalog,
    RetentionPolicy,
    restore_with_safety,
)
from runwright.databases.fake import FakeDatabase
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError, InputError


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    tables: dict[str, list[tuple[Any, ...]]] = {"users": [(1, "a"), (2, "b")], "orders": [(10, 1)]}
    return FakeDatabase(clock, name="shop", tables=tables, checksum_tables=["users"])


@pytest.fixture
def catalog(tmp_path: Path, clock: FakeClock) -> BackupCatalog:
    return BackupCatalog(tmp_path, clock)


async def _daily_backups(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock, days: int
) -> list[BackupInfo]:
    taken = []
    for day in range(days):
        taken.append(await catalog.backup(db, f"run {day}/x"))
        clock.advance(86400)
    return taken


async def test_backups_are_laid_out_by_database_and_time(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock, tmp_path: Path
) -> None:
    first = await catalog.backup(db, "run-7")
    second = await catalog.backup(db, "run-7")
    clock.advance(3600)
    third = await catalog.backup(db, "../../etc")
    assert first.directory == tmp_path / "shop" / "20260105T100000Z-run-7"
    assert second.backup_id == "20260105T100000Z-run-7-2"
    assert third.directory.parent == tmp_path / "shop"
    assert third.backup_id == "20260105T110000Z-etc"
    assert read_metadata(first.directory) == first
    assert [b.backup_id for b in catalog.backups()] == [
        third.backup_id,
        second.backup_id,
        first.backup_id,
    ]
    assert catalog.find(first.backup_id) == first


async def test_an_unknown_backup_id_names_the_ones_that_exist(
    catalog: BackupCatalog, db: FakeDatabase
) -> None:
    info = await catalog.backup(db, "run-1")
    with pytest.raises(InputError, match="no backup 'nope'") as raised:
        catalog.find("nope", "shop")
    assert info.backup_id in str(raised.value)


async def test_a_failed_backup_leaves_nothing_behind(
    catalog: BackupCatalog, db: FakeDatabase, tmp_path: Path
) -> None:
    db.fail["backup"] = "disk full"
    with pytest.raises(DriverError, match="disk full"):
        await catalog.backup(db, "run-1")
    assert list((tmp_path / "shop").iterdir()) == []
    assert catalog.latest("shop") is None


async def test_retention_keeps_the_last_n_and_the_newest_verified(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock
) -> None:
    backups = await _daily_backups(catalog, db, clock, 6)
    await catalog.verify(db, backups[1])

    plan = catalog.plan_retention("shop", RetentionPolicy(keep_last=2))
    assert [i.backup_id for i in plan.delete] == [
        backups[3].backup_id,
        backups[2].backup_id,
        backups[0].backup_id,
    ]
    assert f"keep {backups[1].backup_id}: newest verified" in plan.describe()
    assert catalog.backups("shop")[-1].backup_id == backups[0].backup_id, "planning deletes nothing"

    deleted = catalog.apply_retention(plan)
    assert len(deleted) == 3
    assert [b.backup_id for b in catalog.backups("shop")] == [
        backups[5].backup_id,
        backups[4].backup_id,
        backups[1].backup_id,
    ]
    assert catalog.latest("shop", verified=True) is not None


async def test_retention_by_age_keeps_the_recent_and_always_the_newest(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock
) -> None:
    backups = await _daily_backups(catalog, db, clock, 5)
    plan = catalog.plan_retention("shop", RetentionPolicy(max_age=timedelta(days=3)))
    assert {i.backup_id for i in plan.delete} == {b.backup_id for b in backups[:3]}

    clock.advance(86400 * 30)
    plan = catalog.plan_retention("shop", RetentionPolicy(max_age=timedelta(days=3)))
    assert [i.backup_id for i, _ in plan.keep] == [backups[4].backup_id]
    assert catalog.plan_retention("shop", RetentionPolicy()).delete == ()


def test_retention_rules_must_make_sense() -> None:
    with pytest.raises(InputError, match="keep_last must be at least 1"):
        RetentionPolicy(keep_last=0)
    with pytest.raises(InputError, match="positive"):
        RetentionPolicy(max_age=timedelta(0))


async def test_restore_with_safety_takes_a_backup_first(
    catalog: BackupCatalog, db: FakeDatabase
) -> None:
    info = await catalog.backup(db, "run-1")
    db.tables["users"].append((3, "c"))
    outcome = await restore_with_safety(db, catalog, info, "run-2")
    assert db.tables["users"] == [(1, "a"), (2, "b")]
    assert outcome.safety.kind == "safety"
    assert outcome.safety.row_counts == {"users": 3, "orders": 1}
    assert catalog.latest("shop") == info, "a safety backup is not the latest release backup"
    assert db.calls[-2:] == ["backup", "restore"]


async def test_no_restore_happens_without_a_safety_backup(
    catalog: BackupCatalog, db: FakeDatabase
) -> None:
    info = await catalog.backup(db, "run-1")
    db.tables["users"].clear()
    db.fail["backup"] = "permission denied"
    with pytest.raises(DriverError, match="permission denied"):
        await restore_with_safety(db, catalog, info, "run-2")
    assert db.tables["users"] == []
    assert "restore" not in db.calls


async def test_a_failed_restore_says_where_the_safety_backup_is(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock
) -> None:
    info = await catalog.backup(db, "run-1")
    clock.advance(60)
    db.fail["restore"] = "connection lost"
    with pytest.raises(
        DriverError,
        match=r"connection lost \(the database before the restore "
        r"is saved as 20260105T100100Z-run-2\)",
    ):
        await restore_with_safety(db, catalog, info, "run-2")


async def test_verification_catches_a_changed_dump_and_is_recorded(
    catalog: BackupCatalog, db: FakeDatabase
) -> None:
    info = await catalog.backup(db, "run-1")
    info.path.write_text(info.path.read_text().replace('"a"', '"z"'))
    updated, result = await catalog.verify(db, info)
    assert not result.ok
    assert "sha256" in result.describe()
    assert read_metadata(info.directory).verified is False
    assert updated.verify_differences == result.differences
    assert catalog.latest("shop", verified=True) is None


async def test_a_backup_of_another_database_is_never_restored(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock
) -> None:
    other = FakeDatabase(clock, name="billing", tables={"invoices": [(1,)]})
    info = await catalog.backup(other, "run-1")
    with pytest.raises(InputError, match="is of database billing, not shop"):
        await restore_with_safety(db, catalog, info, "run-2")
    assert db.calls == []


async def test_retention_counts_safety_backups_apart_from_release_backups(
    catalog: BackupCatalog, db: FakeDatabase, clock: FakeClock
) -> None:
    backups = await _daily_backups(catalog, db, clock, 3)
    for _ in range(2):
        await restore_with_safety(db, catalog, backups[0], "restore")
        clock.advance(60)
    newest = await catalog.backup(db, "run 9/x")
    plan = catalog.plan_retention("shop", RetentionPolicy(keep_last=2))
    kept = {i.backup_id: (i.kind, why) for i, why in plan.keep}
    assert [i.backup_id for i in plan.delete] == [backups[1].backup_id, backups[0].backup_id]
    assert kept[newest.backup_id] == ("backup", ("newest", "among the newest 2 backups"))
    assert kept[backups[2].backup_id][1] == ("among the newest 2 backups",)
    assert sorted(kind for kind, _ in kept.values()) == ["backup", "backup", "safety", "safety"]
