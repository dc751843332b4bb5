"""Fencing on one store file: a driver whose lease another took over at a higher epoch gets
every write refused (events, live output, heartbeats), and nothing it tried is in the journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runwright.engine.claims import claim_next
from runwright.engine.store import NewStep, StepUpdate, Store
from runwright.errors import FencedError
from runwright.model.status import RunStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _store(path: Path) -> Store:
    return Store.open(f"sqlite:///{path / 'rw.db'}")


def _queue(store: Store, env: str = "prod") -> int:
    return store.create_run(
        runbook="book", environment=env, version="1", initiator="alice", file="b.yaml",
        text="", digest="0" * 64, params={}, now=T0, queued=True, created={"queued": True},
        steps=[NewStep("main", 0, "all", "one", "run", {"run": "true"})],
    )  # fmt: skip


def test_a_stale_driver_is_refused_after_a_takeover(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    run_id = _queue(a)
    claim = claim_next(a, "a@h:1.1", now=T0, ttl=2)
    assert claim is not None
    assert claim.epoch == 1
    assert not claim.takeover
    assert a.acquire_lease(run_id, "a@h:1.1", now=T0, ttl=2, owner_dead=lambda o: False) == 2
    a.append(run_id, actor="a", type="step.started", at=T0, step="one")
    assert claim_next(b, "b@h:2.2", now=T0 + timedelta(seconds=1), ttl=2) is None
    later = T0 + timedelta(seconds=3)
    taken = claim_next(b, "b@h:2.2", now=later, ttl=2)
    assert taken is not None
    assert taken.takeover
    assert taken.previous == "a@h:1.1"
    before = len(a.events(run_id))
    with pytest.raises(FencedError, match="write refused"):
        a.append(run_id, actor="a", type="step.succeeded", at=later, step="one")
    with pytest.raises(FencedError):
        a.update_step(run_id, StepUpdate("main", 0, {}, "late output\n"))
    assert not a.renew_lease(run_id, "a@h:1.1", now=later, ttl=2)
    events = a.events(run_id)
    assert len(events) == before
    assert [e.type for e in events][-1] == "run.taken_over"
    assert "late output" not in a.steps(run_id)[0].output
    b.append(run_id, actor="b", type="step.started", at=later, step="one")
    assert b.run(run_id).lease_owner == "b@h:2.2"


def test_queued_runs_of_one_environment_are_claimed_one_at_a_time(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first, second, other = _queue(store), _queue(store), _queue(store, "stage")
    assert store.run(first).status == RunStatus.QUEUED
    assert store.lock_holder("book", "prod") is None
    got = [claim_next(store, f"w{i}@h:{i}.1", now=T0, ttl=30) for i in range(3)]
    assert [c.run_id if c else None for c in got] == [first, other, None]
    assert store.lock_holder("book", "prod") == first
    store.append(first, actor="w", type="run.finished", at=T0,
                 run_values={"status": RunStatus.SUCCEEDED})  # fmt: skip
    again = claim_next(store, "w9@h:9.1", now=T0, ttl=30)
    assert again is not None
    assert again.run_id == second
