"""Command migrations (Prisma, Django, Flyway...) with a recorded state and an undo command."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.databases.migrations import (
    CommandMigration,
    CommandMigrationSettings,
    RollbackPolicy,
)
from runwright.engine.clock import FakeClock, SystemClock
from runwright.errors import DriverError, InputError


def _migration(state: Path, **overrides: object) -> CommandMigration:
    settings: dict[str, object] = {
        "apply": f"echo migrating; echo 0042_add_plan > {state}",
        "current": f"echo 'Current version:'; cat {state}",
        "undo": f"echo {{before}} > {state}",
        "rollback": RollbackPolicy.DOWNGRADE,
        "tool": "django",
        "cwd": state.parent,
    }
    settings.update(overrides)
    # real commands run inside the migration's time limit: on real time
    return CommandMigration(CommandMigrationSettings(**settings), SystemClock())  # type: ignore[arg-type]


async def test_apply_records_before_and_after_and_undo_goes_back(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("0041 initial's\n")
    migration = _migration(state)
    record = await migration.apply()
    assert (record.before, record.after) == ("0041 initial's", "0042_add_plan")
    assert record.kind == "django"
    assert "migrating" in record.output
    await migration.undo(record)
    assert state.read_text() == "0041 initial's\n"


async def test_a_failing_command_is_a_driver_error_with_its_output(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path / "state",
        apply="echo 'relation \"plans\" already exists' >&2; exit 1",
        current=None,
        undo="true",
    )
    with pytest.raises(DriverError, match='django.*relation "plans" already exists'):
        await migration.apply()


def test_rollback_policy_is_checked_against_the_commands() -> None:
    with pytest.raises(InputError, match="policy is downgrade but it has no undo"):
        CommandMigrationSettings(apply="prisma migrate deploy", rollback=RollbackPolicy.DOWNGRADE)
    with pytest.raises(InputError, match="nothing records it"):
        CommandMigrationSettings(apply="x", undo="y {before}", rollback=RollbackPolicy.DOWNGRADE)
    with pytest.raises(InputError, match="use one of downgrade, keep, restore"):
        RollbackPolicy.parse("revert")
    assert RollbackPolicy.parse(" Keep ") is RollbackPolicy.KEEP


def test_the_plan_states_the_rollback_policy() -> None:
    keep = CommandMigration(
        CommandMigrationSettings(
            apply="npx prisma migrate deploy", tool="prisma", rollback=RollbackPolicy.KEEP
        ),
        FakeClock(),
    ).plan()
    assert keep.describe() == [
        "migrate (prisma) to latest: npx prisma migrate deploy",
        "rollback: keep, keep the new schema (the previous version must run against it)",
    ]
    down = _migration(Path("/tmp/state")).plan()
    assert down.describe()[1] == (
        "rollback: downgrade, downgrade to the revision recorded before the migration: "
        "echo {before} > /tmp/state"
    )
