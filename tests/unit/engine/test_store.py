"""The durable store on SQLite: the run lock, the hash-chained journal, leases, approvals,
revisions, and errors a person can act on. (The same contract on PostgreSQL is in
``tests/integration/test_store_postgres.py``.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.tamper import tamper

from runwright.engine.audit import verify_chain
from runwright.engine.chain import GENESIS
from runwright.engine.store import (
    OUTPUT_LIMIT,
    ApprovalRow,
    NewStep,
    StepUpdate,
    Store,
    StoreError,
)
from runwright.errors import InputError, LockedError

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "runwright.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{db}")
    yield s
    s.close()


def new_run(store: Store, *, environment: str = "staging", initiator: str = "alice") -> int:
    return store.create_run(
        runbook="shop",
        environment=environment,
        version="v1",
        initiator=initiator,
        file="shop.yaml",
        text="name: shop\n",
        digest="d" * 64,
        params={"vars": {"replicas": 2}},
        steps=[
            NewStep("main", 0, "build", "build", "run", {"kind": "run", "params": {}}),
            NewStep("main", 1, "release", "release", "run", {"kind": "run", "idempotent": True}),
            NewStep("rollback", 0, "rollback", "notify", "run", {"kind": "run"}),
        ],
        now=T0,
    )


def test_open_creates_the_schema_in_a_new_directory_and_reopening_keeps_data(db: Path) -> None:
    first = Store.open(f"sqlite:///{db}")
    run_id = new_run(first)
    first.close()
    assert db.exists()
    again = Store.open(f"sqlite:///{db}")
    try:
        assert again.run(run_id).runbook == "shop"
    finally:
        again.close()


def test_sqlite_is_durable_by_default(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_created_run_has_its_steps_pending_in_order(store: Store) -> None:
    run_id = new_run(store)
    run = store.run(run_id)
    assert (run.status, run.initiator, run.event_count, run.head_hash) == (
        "pending",
        "alice",
        0,
        GENESIS,
    )
    assert run.params == {"vars": {"replicas": 2}}
    assert run.created_at == T0
    steps = store.steps(run_id)
    assert [(s.section, s.idx, s.name, s.status) for s in steps] == [
        ("main", 0, "build", "pending"),
        ("main", 1, "release", "pending"),
        ("rollback", 0, "notify", "pending"),
    ]
    assert steps[1].spec == {"kind": "run", "idempotent": True}


def test_second_run_for_the_same_environment_is_locked_out_naming_the_holder(
    store: Store,
) -> None:
    first = new_run(store)
    with pytest.raises(LockedError) as caught:
        new_run(store, initiator="bob")
    assert f"shop/staging is locked by run {first}" in str(caught.value)
    assert "started by alice" in str(caught.value)
    assert store.lock_holder("shop", "staging") == first
    other = new_run(store, environment="production", initiator="bob")
    assert other != first


def test_the_lock_is_released_when_the_run_ends(store: Store) -> None:
    first = new_run(store)
    store.append(
        first,
        actor="alice",
        type="run.finished",
        at=T0,
        run_values={"status": "succeeded", "finished_at": T0},
    )
    assert store.lock_holder("shop", "staging") is None
    assert store.run(first).terminal
    second = new_run(store, initiator="bob")
    assert store.lock_holder("shop", "staging") == second


def test_events_form_a_chain_that_verifies(store: Store) -> None:
    run_id = new_run(store)
    a = store.append(run_id, actor="alice", type="run.created", at=T0, data={"v": "v1"})
    b = store.append(
        run_id,
        actor="alice",
        type="step.started",
        at=T0 + timedelta(seconds=1),
        step="build",
        data={"attempt": 1},
        run_values={"status": "running"},
        step_update=StepUpdate("main", 0, {"status": "running", "attempts": 1}),
    )
    assert (a.seq, b.seq) == (1, 2)
    assert a.prev_hash == GENESIS
    assert b.prev_hash == a.hash
    run = store.run(run_id)
    assert (run.status, run.event_count, run.head_hash) == ("running", 2, b.hash)
    assert store.steps(run_id)[0].status == "running"
    events = store.events(run_id)
    assert [(e.seq, e.type, e.step, e.data) for e in events] == [
        (1, "run.created", None, {"v": "v1"}),
        (2, "step.started", "build", {"attempt": 1}),
    ]
    assert events[1].at == T0 + timedelta(seconds=1)
    verdict = verify_chain(store.key, events, run)
    assert (verdict.ok, verdict.message) == (True, f"2 events, chain intact (head {b.hash[:12]})")


def chained(store: Store, count: int) -> int:
    run_id = new_run(store)
    for n in range(count):
        store.append(run_id, actor="alice", type=f"e{n + 1}", at=T0, data={"n": n + 1})
    return run_id


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "UPDATE events SET data = replace(data, '3', '9') WHERE seq = 3",
            "event #3 (e3) was edited",
        ),
        ("UPDATE events SET actor = 'mallory' WHERE seq = 1", "event #1 (e1) was edited"),
        ("UPDATE events SET at = '2020-01-01 00:00:00' WHERE seq = 2", "event #2 (e2) was edited"),
        ("DELETE FROM events WHERE seq = 2", "event 2 is missing (next present is #3"),
        ("DELETE FROM events WHERE seq = 4", "records 4 events but 3 remain"),
        ("UPDATE events SET prev_hash = hash WHERE seq = 4", "event #4 (e4) does not follow #3"),
    ],
)
def test_tampering_with_the_journal_is_found(store: Store, sql: str, message: str) -> None:
    run_id = chained(store, 4)
    tamper(store, sql)
    verdict = verify_chain(store.key, store.events(run_id), store.run(run_id))
    assert not verdict.ok
    assert message in verdict.message


def test_live_output_is_appended_and_capped(store: Store) -> None:
    run_id = new_run(store)
    store.update_step(run_id, StepUpdate("main", 0, append_output="line 1\n"))
    store.update_step(run_id, StepUpdate("main", 0, append_output="line 2\n"))
    assert store.steps(run_id)[0].output == "line 1\nline 2\n"
    store.update_step(run_id, StepUpdate("main", 0, append_output="x" * (OUTPUT_LIMIT + 10)))
    output = store.steps(run_id)[0].output
    assert output.startswith("[... earlier output truncated ...]\n")
    assert len(output) <= OUTPUT_LIMIT + 40
    assert store.events(run_id) == []


def test_a_lease_keeps_other_drivers_out_until_it_expires_or_its_owner_dies(
    store: Store,
) -> None:
    run_id = new_run(store)
    alive = lambda owner: False  # noqa: E731
    store.acquire_lease(run_id, "a@host:1", now=T0, ttl=30, owner_dead=alive)
    with pytest.raises(LockedError, match="being driven by a@host:1"):
        store.acquire_lease(
            run_id, "b@host:2", now=T0 + timedelta(seconds=10), ttl=30, owner_dead=alive
        )
    store.acquire_lease(
        run_id,
        "b@host:2",
        now=T0 + timedelta(seconds=10),
        ttl=30,
        owner_dead=lambda owner: owner == "a@host:1",
    )
    assert store.run(run_id).lease_owner == "b@host:2"
    assert store.renew_lease(run_id, "b@host:2", now=T0 + timedelta(seconds=20), ttl=30)
    assert not store.renew_lease(run_id, "a@host:1", now=T0, ttl=30)
    assert store.run(run_id).lease_expires == T0 + timedelta(seconds=50)
    store.acquire_lease(
        run_id, "c@host:3", now=T0 + timedelta(seconds=51), ttl=30, owner_dead=alive
    )
    store.release_lease(run_id, "b@host:2")
    assert store.run(run_id).lease_owner == "c@host:3"
    store.release_lease(run_id, "c@host:3")
    assert store.run(run_id).lease_owner is None


def test_approvals_are_read_from_their_sealed_events(store: Store) -> None:
    run_id = new_run(store)
    store.append(
        run_id,
        actor="bob",
        type="approval.given",
        at=T0,
        step="approval",
        data={"gate": "approval", "note": "ok"},
        decisions=(ApprovalRow(run_id, "approval", "approval", None, "bob", "ok", T0),),
    )
    later = T0 + timedelta(minutes=1)
    store.append(
        run_id,
        actor="carol",
        type="gate.attested",
        at=later,
        step="checks",
        data={"gate": "checks", "items": [2], "note": "done", "via": "self_declared"},
        decisions=(ApprovalRow(run_id, "checks", "attestation", 2, "carol", "done", later),),
    )
    both = store.approvals(run_id)
    assert [(a.gate, a.kind, a.user, a.item, a.note, a.via) for a in both] == [
        ("approval", "approval", "bob", None, "ok", "os"),
        ("checks", "attestation", "carol", 2, "done", "self_declared"),
    ]
    assert both[1].at == later
    assert [a.user for a in store.approvals(run_id, "checks")] == ["carol"]
    tamper(
        store,
        "INSERT INTO approvals (run_id, gate, kind, user, note, at) "
        f"VALUES ({run_id}, 'approval', 'approval', 'mallory', 'forged', '2026-01-01 00:00:00')",
    )
    assert [a.user for a in store.approvals(run_id, "approval")] == ["bob"]


def finished(store: Store, environment: str, version: str) -> int:
    run_id = store.create_run(
        runbook="shop", environment=environment, version=version, initiator="alice",
        file="shop.yaml", text="", digest="d" * 64, params={}, steps=[], now=T0,
    )  # fmt: skip
    store.append(
        run_id, actor="alice", type="run.finished", at=T0,
        run_values={"status": "succeeded"}, revision=True,
    )  # fmt: skip
    return run_id


def test_revisions_are_numbered_per_environment_in_the_final_transaction(store: Store) -> None:
    first = finished(store, "staging", "v1")
    finished(store, "staging", "v2")
    finished(store, "production", "v1")
    assert [(r.number, r.version) for r in store.revisions("shop", "staging")] == [
        (2, "v2"),
        (1, "v1"),
    ]
    assert [r.number for r in store.revisions("shop", "production")] == [1]
    assert store.run(first).revision == 1
    assert [e.type for e in store.events(first)] == ["run.finished", "revision.recorded"]


def test_history_is_newest_first_and_filters_active_runs(store: Store) -> None:
    first = new_run(store)
    store.append(first, actor="alice", type="run.finished", at=T0, run_values={"status": "failed"})
    second = new_run(store)
    assert [r.id for r in store.runs()] == [second, first]
    assert [r.id for r in store.runs(active=True)] == [second]
    assert store.runs(environment="production") == []


def test_unknown_run_is_an_input_error_with_a_hint(store: Store) -> None:
    with pytest.raises(InputError, match="no run 42") as caught:
        store.run(42)
    assert caught.value.hint == "list runs with: runwright history"


def test_a_state_directory_that_cannot_exist_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot create the state store's directory"):
        Store.open("sqlite:////proc/no-such-dir/runwright.db")


def test_an_unreadable_database_file_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "runwright.db"
    bad.write_bytes(b"this is not a database, just bytes " * 200)
    with pytest.raises(StoreError, match="cannot open the state store"):
        Store.open(f"sqlite:///{bad}")


def test_another_process_sees_committed_state_at_once(store: Store, db: Path) -> None:
    run_id = new_run(store)
    store.append(run_id, actor="alice", type="run.started", at=T0, run_values={"status": "running"})
    conn = sqlite3.connect(db)
    try:
        status, count = conn.execute(
            "SELECT status, event_count FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    finally:
        conn.close()
    assert (status, count) == ("running", 1)
