"""``follow`` yields committed events in order, ends with the run when asked to, and (through
its cursor) never loses an event PostgreSQL commits after a later one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from tests.unit.app.conftest import App

from runwright.app.runs import decisions, runs
from runwright.app.runs.follow import FollowSettings, follow
from runwright.engine.feed import Cursor, read_after, read_events
from runwright.engine.store import EventRow
from runwright.errors import InputError

BOOK = """
name: gated
environments:
  production:
    approvals: {required: 1}
phases:
  - name: release
    steps:
      - run: "true"
"""

FAST = FollowSettings(poll_interval=0.02)


def _event(id_: int, run: int = 1, seq: int = 1) -> EventRow:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return EventRow(id_, run, seq, at, "alice", "x", None, {}, "{}", "", "")


def test_the_global_cursor_waits_for_an_id_committed_late_then_passes_over_a_lost_one() -> None:
    cursor = Cursor(None, 0, grace=10.0)
    assert [e.id for e in cursor.take([_event(1), _event(2), _event(4)], now=0.0)] == [1, 2, 4]
    assert cursor.floor == 2, "id 3 was handed out first and may still commit"
    assert [e.id for e in cursor.take([_event(3), _event(4), _event(6)], now=1.0)] == [3, 6]
    assert cursor.floor == 4
    assert cursor.take([_event(6)], now=5.0) == []
    assert cursor.floor == 4
    cursor.take([_event(6)], now=11.5)
    assert cursor.floor == 6, "id 5 never committed (a rolled-back transaction)"


def test_a_run_cursor_moves_by_sequence() -> None:
    cursor = Cursor(7, 2)
    fresh = cursor.take([_event(10, 7, 3), _event(11, 7, 4)])
    assert [e.seq for e in fresh] == [3, 4]
    assert cursor.floor == 4


async def test_a_reader_behind_a_gap_asks_only_for_the_missing_id_and_what_is_newer(
    app: App,
) -> None:
    await runs.deploy(app.rt, app.write(BOOK), "production", "v1")
    engine = app.rt.store.engine
    ids = [e.id for e in read_events(engine, None, 0)]
    assert len(ids) >= 4
    cursor = Cursor(None, 0)
    cursor.take([e for e in read_events(engine, None, 0) if e.id in (ids[0], ids[2])])
    assert cursor.unseen() == (ids[2], [ids[1]]), "the second event is not taken yet"
    again = read_after(engine, cursor, limit=2)
    assert [e.id for e in again] == [ids[1], ids[3]], "never what the cursor has taken"
    assert [e.id for e in cursor.take(again)] == [ids[1], ids[3]]


async def test_follow_sees_what_other_use_cases_commit_and_ends_with_the_run(app: App) -> None:
    run = await runs.deploy(app.rt, app.write(BOOK), "production", "v1")
    assert run.status == "awaiting_approval"
    seen: list[str] = []

    async def watch() -> None:
        async for event in follow(app.rt, run.id, 0, settings=FAST, until_finished=True):
            seen.append(event.type)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.1)
    assert seen[-1] == "step.blocked"
    await decisions.approve(app.as_user("bob").rt, run.id, "ok")
    final = await runs.resume(app.as_user("alice").rt, run.id)
    assert final.status == "succeeded"
    await asyncio.wait_for(watcher, 5)
    tail = seen[seen.index("approval.given") :]
    assert tail[0] == "approval.given"
    assert tail[-1] == "run.finished"
    assert "run.resumed" in tail


async def test_following_a_run_that_does_not_exist_is_bad_input(app: App) -> None:
    with pytest.raises(InputError, match="no run 42"):
        async for _ in follow(app.rt, 42):
            pass
