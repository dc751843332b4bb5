"""The store on a real PostgreSQL server (a throwaway cluster): the schema is migrated, the
run lock holds across connections, concurrent writers keep the hash chain whole, and a
whole deploy runs through the app on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from tests.conftest import ROOT
from tests.support.postgres import Cluster
from tests.support.tamper import tamper

from runwright.app.runs import decisions, runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.audit import verify_run
from runwright.engine.chain import ChainKey
from runwright.engine.clock import FakeClock
from runwright.engine.store import NewStep, StepUpdate, Store
from runwright.errors import LockedError

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = ChainKey(bytes(range(32)))


@pytest.fixture
def url(pg_cluster: Cluster) -> str:
    """A fresh, empty database of the session's cluster."""
    return pg_cluster.createdb(f"rw_{uuid4().hex[:12]}")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store.open(url, key=KEY)
    yield s
    s.close()


def new_run(store: Store, *, environment: str = "production", initiator: str = "alice") -> int:
    return store.create_run(
        runbook="shop",
        environment=environment,
        version="v7",
        initiator=initiator,
        file="shop.yaml",
        text="name: shop\n",
        digest="e" * 64,
        params={},
        steps=[NewStep("main", 0, "all", "ship", "run", {"kind": "run"})],
        now=T0,
    )


def test_migrations_create_the_schema_once(url: str, pg_cluster: Cluster) -> None:
    Store.open(url, key=KEY).close()
    Store.open(url, key=KEY).close()
    database = url.rsplit("/", 1)[1]
    tables = pg_cluster.psql(
        database,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public'",
    )
    assert tables.split(",") == [
        "alembic_version",
        "approvals",
        "chain_head",
        "device_logins",
        "events",
        "locks",
        "measurements",
        "notifications",
        "oidc_identities",
        "revisions",
        "runs",
        "slack_links",
        "slack_seen",
        "steps",
        "tokens",
        "user_roles",
        "users",
        "workers",
    ]


def test_plain_postgresql_urls_are_accepted(url: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    s = Store.open(plain, key=KEY)
    try:
        assert s.runs() == []
    finally:
        s.close()


def test_the_run_lock_holds_across_connections(store: Store, url: str) -> None:
    first = new_run(store)
    other = Store.open(url, key=KEY)
    try:
        with pytest.raises(LockedError, match=f"shop/production is locked by run {first}"):
            new_run(other, initiator="bob")
        assert new_run(other, environment="staging", initiator="bob") != first
    finally:
        other.close()


def test_events_chain_and_tampering_is_found(store: Store) -> None:
    run_id = new_run(store)
    store.append(run_id, actor="alice", type="run.created", at=T0, data={"version": "v7"})
    store.append(
        run_id,
        actor="alice",
        type="step.started",
        at=T0 + timedelta(seconds=1),
        step="ship",
        run_values={"status": "running"},
        step_update=StepUpdate("main", 0, {"status": "running", "attempts": 1}),
    )
    store.append(
        run_id,
        actor="alice",
        type="run.finished",
        at=T0 + timedelta(seconds=2),
        run_values={"status": "succeeded"},
    )
    run = store.run(run_id)
    assert run.status == "succeeded"
    assert store.steps(run_id)[0].status == "running"
    assert store.lock_holder("shop", "production") is None
    verdict = verify_run(store, run_id)
    assert verdict.ok, verdict.message
    assert store.events(run_id)[1].at == T0 + timedelta(seconds=1)

    tamper(
        store,
        "UPDATE events SET data = :data WHERE run_id = :run AND seq = 1",
        {"data": '{"version":"v8"}', "run": run_id},
    )
    verdict = verify_run(store, run_id)
    assert not verdict.ok
    assert "event #1 (run.created) was edited" in verdict.message


def test_concurrent_writers_keep_one_unbroken_chain(store: Store, url: str) -> None:
    run_id = new_run(store)
    writers = [Store.open(url, key=KEY) for _ in range(4)]
    errors: list[BaseException] = []

    def write(s: Store, who: str) -> None:
        try:
            for n in range(10):
                s.append(run_id, actor=who, type="note", at=T0, data={"n": n})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, f"w{i}")) for i, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in writers:
        s.close()
    assert errors == []
    events = store.events(run_id)
    assert [e.seq for e in events] == list(range(1, 41))
    verdict = verify_run(store, run_id)
    assert verdict.ok, verdict.message


def test_a_deploy_runs_end_to_end_on_postgresql(url: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    settings = Settings.from_environ(
        {}, database_url=url, state_dir=str(tmp_path / "state"), user="alice"
    )
    rt = Runtime.open(settings, clock=FakeClock())
    try:
        book = ROOT / "tests" / "fixtures" / "runbooks" / "approvals.yaml"
        run = asyncio.run(runs.deploy(rt, book, "production", "v3", overrides={"dir": str(work)}))
        assert run.status == "awaiting_approval"
        for user in ("bob", "carol"):
            rt.settings = replace(rt.settings, user=user)
            asyncio.run(decisions.approve(rt, run.id, f"{user} agrees"))
        rt.settings = replace(rt.settings, user="alice")
        final = asyncio.run(runs.resume(rt, run.id))
        assert final.status == "succeeded"
        assert final.revision == 1
        assert (work / "log").read_text() == "shipped v3 to production\n"
        assert [a.user for a in rt.store.approvals(run.id)] == ["bob", "carol"]
        verdict = verify_run(rt.store, run.id)
        assert verdict.ok, verdict.message
    finally:
        rt.close()
