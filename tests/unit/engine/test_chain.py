"""The keyed audit chain against someone who can write the database but lacks the key: a
recomputed chain, a truncated log and a deleted run are all found, by one run's check and by
the whole store's; a database from before keyed chains verifies as unkeyed, not tampered; an
exported bundle is checked offline and rejects edits.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from runwright.engine import store as store_module
from runwright.engine.audit import export_bundle, verify_bundle, verify_run, verify_store
from runwright.engine.chain import GENESIS, ChainKey, Sealed, legacy_hash, load_key
from runwright.engine.store import ChainError, Store

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = ChainKey(bytes(range(32)))
MIGRATIONS = Path(__file__).resolve().parents[3] / "src" / "runwright" / "migrations"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "runwright.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{db}", key=KEY)
    yield s
    s.close()


def run_with_events(store: Store, environment: str, count: int) -> int:
    run_id = store.create_run(
        runbook="shop", environment=environment, version="v1", initiator="alice",
        file="shop.yaml", text="", digest="d" * 64, params={}, steps=[], now=T0,
        created={"version": "v1"},
    )  # fmt: skip
    for n in range(2, count + 1):
        store.append(run_id, actor="alice", type=f"e{n}", at=T0 + timedelta(seconds=n))
    return run_id


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def rewrite_without_key(store: Store, run_id: int, *, unsealed: bool) -> None:
    """What a 30-line attacker script does: change an event (a fake approval), recompute every
    hash after it with the published scheme, and fix the run's counters."""
    events = store.events(run_id)
    prev = GENESIS
    for e in events:
        data = '{"note":"forged"}' if e.seq == 2 else e.data_text
        actor = "bob" if e.seq == 2 else e.actor
        type_ = "approval.given" if e.seq == 2 else e.type
        gseq = None if unsealed else e.gseq
        digest = legacy_hash(Sealed(run_id, e.seq, e.at, actor, type_, e.step, data, prev))
        sql(
            store,
            "UPDATE events SET data=:d, actor=:a, type=:t, prev_hash=:p, hash=:h, gseq=:g "
            "WHERE run_id=:r AND seq=:s",
            d=data, a=actor, t=type_, p=prev, h=digest, g=gseq, r=run_id, s=e.seq,
        )  # fmt: skip
        prev = digest
    sql(store, "UPDATE runs SET head_hash=:h WHERE id=:r", h=prev, r=run_id)


@pytest.mark.parametrize(
    ("unsealed", "named"),
    [
        (False, "event #1 (run.created) was edited: its content does not match its hash"),
        (True, "event #1 (run.created) is not sealed with the audit key"),
    ],
)
def test_a_chain_recomputed_without_the_key_is_rejected(
    store: Store, unsealed: bool, named: str
) -> None:
    run_id = run_with_events(store, "staging", 4)
    assert verify_run(store, run_id).ok
    rewrite_without_key(store, run_id, unsealed=unsealed)
    verdict = verify_run(store, run_id)
    assert not verdict.ok
    assert named in verdict.message
    assert store.approvals(run_id) == [], "an unproven approval never reaches a gate"


def test_a_truncated_log_with_its_counters_updated_is_detected(store: Store) -> None:
    run_id = run_with_events(store, "staging", 5)
    fourth = store.events(run_id)[3]
    sql(store, "DELETE FROM events WHERE run_id=:r AND seq=5", r=run_id)
    sql(store, "UPDATE runs SET event_count=4, head_hash=:h WHERE id=:r", h=fourth.hash, r=run_id)
    verdict = verify_run(store, run_id)
    assert not verdict.ok
    assert "event #4 (e4) is store-wide event 4, but event 5 is missing" in verdict.message
    ok, lines = verify_store(store)
    assert not ok
    assert "store: TAMPERED: the newest event does not match the sealed head (event 5)" in lines


def test_a_deleted_run_is_detected(store: Store) -> None:
    first = run_with_events(store, "staging", 3)
    second = run_with_events(store, "production", 3)
    third = run_with_events(store, "qa", 3)
    sql(store, "DELETE FROM events WHERE run_id=:r", r=second)
    sql(store, "DELETE FROM runs WHERE id=:r", r=second)
    ok, lines = verify_store(store)
    assert not ok
    assert (
        "store: TAMPERED: store-wide events 4-6 are missing: events or a whole run were deleted"
        in lines
    )
    assert not verify_run(store, first).ok
    verdict = verify_run(store, third)
    assert "follows store-wide event 6, which is missing" in verdict.message


def test_an_untouched_store_verifies_as_a_whole(store: Store) -> None:
    for env in ("staging", "production"):
        run_with_events(store, env, 3)
    ok, lines = verify_store(store)
    assert ok, lines
    assert lines == [
        "run 1: OK: 3 events, chain intact (head " + store.events(1)[-1].hash[:12] + ")",
        "run 2: OK: 3 events, chain intact (head " + store.events(2)[-1].hash[:12] + ")",
    ]


def test_another_key_cannot_extend_the_chain_and_says_why(db: Path, store: Store) -> None:
    run_id = run_with_events(store, "staging", 2)
    other = Store.open(f"sqlite:///{db}", key=ChainKey(b"x" * 32))
    try:
        with pytest.raises(ChainError, match="sealed with key"):
            other.append(run_id, actor="mallory", type="approval.given", at=T0)
        verdict = verify_run(other, run_id)
        assert not verdict.ok
        assert f"sealed with audit key {KEY.key_id}" in verdict.message
    finally:
        other.close()


def test_an_altered_head_stops_further_writes(store: Store) -> None:
    run_id = run_with_events(store, "staging", 3)
    sql(store, "UPDATE chain_head SET gseq = 2")
    with pytest.raises(ChainError, match="head does not match its seal"):
        store.append(run_id, actor="alice", type="e4", at=T0)


def test_the_key_file_is_private_and_kept(tmp_path: Path) -> None:
    key = load_key(tmp_path, {})
    path = tmp_path / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(tmp_path, {}) == key
    given = load_key(tmp_path, {"RUNWRIGHT_AUDIT_KEY": "ab" * 32})
    assert given.secret == bytes.fromhex("ab" * 32)


def legacy_database(db: Path, runs: int = 1) -> None:
    """A database as runwright wrote it before keyed chains: ``runs`` runs of two unkeyed
    events each, the first awaiting approval."""
    db.parent.mkdir(parents=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        for run_id in range(1, runs + 1):
            conn.execute(
                sa.text(
                    "INSERT INTO runs (id, runbook, environment, version, status, initiator, "
                    "created_at, updated_at, runbook_file, runbook_text, runbook_digest, params, "
                    "event_count, head_hash, kind) VALUES (:r, 'shop', :env, 'v1', "
                    "'awaiting_approval', 'alice', :t, :t, 'f', '', 'd', '{}', 2, '', 'deploy')"
                ),
                {"t": T0, "r": run_id, "env": f"env{run_id}"},
            )
            prev = GENESIS
            for seq in (1, 2):
                e = Sealed(run_id, seq, T0, "alice", f"old{seq}", None, "{}", prev)
                prev = legacy_hash(e)
                conn.execute(
                    sa.text(
                        "INSERT INTO events (run_id, seq, at, actor, type, step, data, "
                        "prev_hash, hash) VALUES (:r, :s, :t, 'alice', :ty, NULL, '{}', :p, :h)"
                    ),
                    {"r": run_id, "s": seq, "t": T0, "ty": f"old{seq}", "p": e.prev_hash,
                     "h": prev},
                )  # fmt: skip
            conn.execute(sa.text("UPDATE runs SET head_hash = :h WHERE id = :r"),
                         {"h": prev, "r": run_id})  # fmt: skip
    engine.dispose()


def forge_legacy_approval(store: Store, run_id: int) -> None:
    """Last round's attack: an ``approval.given`` appended as a legacy event (no gseq, the
    public unkeyed hash), ``legacy_until`` raised and the run's counters fixed."""
    run = store.run(run_id)
    seq = run.event_count + 1
    forged = Sealed(run_id, seq, T0, "bob", "approval.given", "approve",
                    '{"gate":"approve","note":"lgtm"}', run.head_hash)  # fmt: skip
    sql(
        store,
        "INSERT INTO events (run_id, seq, at, actor, type, step, data, prev_hash, hash) "
        "VALUES (:r, :s, :t, 'bob', 'approval.given', 'approve', :d, :p, :h)",
        r=run_id, s=seq, t=T0, d=forged.data_text, p=forged.prev_hash, h=legacy_hash(forged),
    )  # fmt: skip
    sql(store, "UPDATE runs SET event_count = :s, head_hash = :h, legacy_until = :s "
        "WHERE id = :r", s=seq, h=legacy_hash(forged), r=run_id)  # fmt: skip


def test_old_unkeyed_events_are_resealed_once_at_the_upgrade(db: Path) -> None:
    legacy_database(db)
    store = Store.open(f"sqlite:///{db}", key=KEY)
    try:
        events = store.events(1)
        assert [(e.type, e.gseq is not None) for e in events] == [
            ("old1", False), ("old2", False), ("audit.resealed", True)
        ]  # fmt: skip
        assert events[2].data["until"] == 2
        assert events[2].data["head"] == events[1].hash
        before = verify_run(store, 1)
        assert before.ok, before.message
        assert "2 written before keyed chains were checked and resealed" in before.message
        store.append(1, actor="bob", type="run.resumed", at=T0)
        assert verify_run(store, 1).ok
    finally:
        store.close()


def downgrade(store: Store, revision: str) -> None:
    """Take the schema back to ``revision`` the way an operator would: Alembic's downgrades."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(store_module.__file__).parent.parent / "migrations")
    )
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_a_forged_legacy_approval_is_tampering_whatever_the_legacy_marks_say(db: Path) -> None:
    legacy_database(db, runs=2)
    store = Store.open(f"sqlite:///{db}", key=KEY)
    try:
        forge_legacy_approval(store, 1)
        verdict = verify_run(store, 1)
        assert not verdict.ok
        assert "event #4 (approval.given, step approve) is not sealed with the audit key" in (
            verdict.message
        )
        assert store.approvals(1) == [], "an unkeyed approval never reaches a gate"
        # Rolling the schema back to before the reseal and reopening reseals nothing new:
        # run 1's unkeyed tail follows a sealed event, run 2 is resealed already.
        downgrade(store, "0004_workers")
        again = Store.open(f"sqlite:///{db}", key=KEY)
        again.close()
        assert [e.type for e in store.events(1)][-1] == "approval.given"
        assert not verify_run(store, 1).ok
        assert store.approvals(1) == []
        assert verify_run(store, 2).ok
    finally:
        store.close()


def test_a_whole_history_rewritten_unkeyed_with_its_head_deleted_is_caught(store: Store) -> None:
    """Every run rewritten as 'legacy' events with the public hash and ``chain_head``
    deleted: no unkeyed event is resealed after the upgrade, so every run is tampered."""
    for env in ("staging", "production"):
        run_id = run_with_events(store, env, 3)
        rewrite_without_key(store, run_id, unsealed=True)
        sql(store, "UPDATE runs SET legacy_until = 3 WHERE id = :r", r=run_id)
    sql(store, "UPDATE events SET gprev = NULL")
    sql(store, "DELETE FROM chain_head")
    ok, lines = verify_store(store)
    assert not ok
    for run_id in (1, 2):
        assert any(
            line.startswith(f"run {run_id}: TAMPERED: event #1 (run.created) is not sealed")
            for line in lines
        ), lines
        assert store.approvals(run_id) == []


def test_an_exported_bundle_verifies_offline_and_rejects_edits(store: Store) -> None:
    run_id = run_with_events(store, "staging", 3)
    bundle = json.loads(json.dumps(export_bundle(store, run_id, "# report")))
    ok = verify_bundle(KEY, bundle)
    assert ok.ok, ok.message
    assert "bundle signature valid" in ok.message

    edited = json.loads(json.dumps(bundle))
    edited["events"][1]["actor"] = "mallory"
    assert "signature does not match" in verify_bundle(KEY, edited).message
    wrong = verify_bundle(ChainKey(b"y" * 32), bundle)
    assert not wrong.ok
    assert "sealed with key" in wrong.message
