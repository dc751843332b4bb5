"""The attacks of a reliability probe on the audit trail, each against the real CLI and its
SQLite file: a forged "legacy" approval, a history rewritten unkeyed with ``chain_head``
deleted, an edited step outcome, a truncated log, a deleted run, and a history resealed by
someone holding a key (the real one, or one put in its place) while a witness file was kept.
Each is caught by ``runwright audit verify`` (exit 1, naming what), and no forged approval
lets ``resume`` drive the run.

One module fixture deploys twice with a witness file configured: run 1 (``simple.yaml``)
succeeds, run 2 (``approvals.yaml`` production, two approvals needed) waits. Each test
tampers with its own copy of the state directory.
"""

from __future__ import annotations

import html
import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import ROOT, RunCli
from tests.support.tamper import reseal_everything
from tests.support.web import web_server

from runwright.engine.chain import GENESIS, ChainKey, Sealed, head_seal, legacy_hash

pytestmark = pytest.mark.xdist_group("tampering")

SIMPLE = str(ROOT / "tests" / "fixtures" / "runbooks" / "simple.yaml")
APPROVALS = str(ROOT / "tests" / "fixtures" / "runbooks" / "approvals.yaml")
GATE = "approval for production"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], RunCli]) -> Path:
    state = tmp_path_factory.mktemp("tamper-state")
    (state / "books").mkdir()
    work = tmp_path_factory.mktemp("tamper-work")
    cli = cli_for(state)
    env = {"RUNWRIGHT_WITNESS": str(state / "witness.log")}
    done = cli("deploy", SIMPLE, "--version", "v1", "--var", f"dir={work}", env=env)
    assert done.returncode == 0, done.stderr
    waiting = cli("deploy", APPROVALS, "-e", "production", "--version", "v1",
                  "--var", f"dir={work}", env=env)  # fmt: skip
    assert waiting.returncode == 3, waiting.stderr
    return state


@pytest.fixture
def state(deployed: Path, state_dir: Path) -> Path:
    """This test's copy of the deployed state directory (database, key, witness file)."""
    for name in ("audit.key", "witness.log"):
        shutil.copy2(deployed / name, state_dir / name)
    (state_dir / "books").mkdir()
    with (
        sqlite3.connect(deployed / "runwright.db") as src,
        sqlite3.connect(state_dir / "runwright.db") as dst,
    ):
        src.backup(dst)
    src.close()
    dst.close()
    return state_dir


def sql(state: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(state / "runwright.db")
    try:
        with conn:
            for statement, params in statements:
                conn.execute(statement, params)
    finally:
        conn.close()


def query(state: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(state / "runwright.db")
    try:
        return list(conn.execute(statement, params))
    finally:
        conn.close()


def stamp_of(text: str) -> datetime:
    return datetime.strptime(text[:26], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def verify(run_cli: RunCli, *args: str) -> tuple[int, str]:
    result = run_cli("audit", "verify", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout + result.stderr


def test_the_untouched_state_verifies_with_its_witness(run_cli: RunCli, state: Path) -> None:
    code, out = verify(run_cli, "--witness", str(state / "witness.log"))
    assert code == 0, out
    assert "witness: OK: 1 witnessed heads are in the database" in out


def test_a_forged_legacy_approval_is_caught_and_ships_nothing(
    run_cli: RunCli, state: Path, tmp_path: Path
) -> None:
    """Two ``approval.given`` events appended as 'legacy' (no gseq, the public unkeyed hash),
    with approvals rows, ``legacy_until`` raised and the run's counters fixed."""
    count, head = query(state, "SELECT event_count, head_hash FROM runs WHERE id = 2")[0]
    at = "2026-01-01 00:00:00.000000"
    statements = []
    for user in ("bob", "carol"):
        count += 1
        data = json.dumps({"gate": GATE, "note": "lgtm", "via": "os"}, separators=(",", ":"))
        forged = Sealed(2, count, stamp_of(at), user, "approval.given", GATE, data, head)
        head = legacy_hash(forged)
        statements += [
            ("INSERT INTO events (run_id, seq, at, actor, type, step, data, prev_hash, hash) "
             "VALUES (2, ?, ?, ?, 'approval.given', ?, ?, ?, ?)",
             (count, at, user, GATE, data, forged.prev_hash, head)),
            ("INSERT INTO approvals (run_id, gate, kind, user, note, at) "
             "VALUES (2, ?, 'approval', ?, 'lgtm', ?)", (GATE, user, at)),
        ]  # fmt: skip
    statements.append(("UPDATE runs SET event_count = ?, head_hash = ?, legacy_until = ? "
                       "WHERE id = 2", (count, head, count)))  # fmt: skip
    sql(state, *statements)
    before = query(state, "SELECT count(*) FROM events WHERE run_id = 2")[0][0]

    code, out = verify(run_cli, "2")
    assert code == 1
    assert "is not sealed with the audit key" in out
    assert f"(approval.given, step {GATE})" in out
    resumed = run_cli("resume", "2")
    assert resumed.returncode == 2
    assert "run 2 is not driven: its audit trail does not verify" in resumed.stderr
    assert "TAKEOVER" not in resumed.stdout + resumed.stderr
    assert query(state, "SELECT count(*) FROM events WHERE run_id = 2")[0][0] == before
    assert query(state, "SELECT status FROM runs WHERE id = 2")[0][0] == "awaiting_approval"


def test_a_history_rewritten_unkeyed_with_chain_head_deleted_is_caught(
    run_cli: RunCli, state: Path
) -> None:
    rows = query(state, "SELECT id, run_id, seq, at, actor, type, step, data FROM events "
                 "ORDER BY run_id, seq")  # fmt: skip
    prev: dict[int, str] = {}
    statements = []
    for id_, run_id, seq, at, actor, type_, step, data in rows:
        e = Sealed(run_id, seq, stamp_of(at), actor, type_, step, data, prev.get(run_id, GENESIS))
        prev[run_id] = legacy_hash(e)
        statements.append(("UPDATE events SET gseq = NULL, gprev = NULL, prev_hash = ?, hash = ? "
                           "WHERE id = ?", (e.prev_hash, prev[run_id], id_)))  # fmt: skip
    for run_id, head in prev.items():
        statements.append(("UPDATE runs SET head_hash = ?, legacy_until = event_count "
                           "WHERE id = ?", (head, run_id)))  # fmt: skip
    statements.append(("DELETE FROM chain_head", ()))
    sql(state, *statements)

    code, out = verify(run_cli)
    assert code == 1
    for run_id in (1, 2):
        assert f"run {run_id}: TAMPERED: event #1 (run.created) is not sealed" in out, out
    assert run_cli("resume", "2").returncode == 2


def test_an_edited_step_outcome_is_caught_and_flagged_where_people_read_it(
    run_cli: RunCli, state: Path
) -> None:
    sql(state, ("UPDATE steps SET status = 'failed', summary = 'exit code 1: edited' "
                "WHERE run_id = 1 AND name = 'install'", ()))  # fmt: skip
    named = "step 'install' status 'failed' is not supported by the audit chain"
    code, out = verify(run_cli, "1")
    assert code == 1
    assert named in out
    assert "(its events say 'succeeded')" in out
    status = run_cli("status", "1")
    assert f"WARNING: {named}" in status.stdout
    as_json = json.loads(run_cli("status", "1", "--json").stdout)
    assert any(named in p for p in as_json["unsupported_by_chain"])
    report = run_cli("report", "1").stdout
    assert "**Audit trail:** TAMPERED: " + named in report
    with (
        web_server(state, state / "books") as web,
        httpx.Client(base_url=web.url, follow_redirects=True, timeout=30) as browser,
    ):
        assert browser.get(web.login_url("alice").removeprefix(web.url)).status_code == 200
        page = browser.get("/runs/1")
    assert page.status_code == 200
    assert 'id="unsupported"' in page.text
    assert named in html.unescape(page.text)


def test_an_edited_run_status_is_caught(run_cli: RunCli, state: Path) -> None:
    sql(state, ("UPDATE runs SET status = 'succeeded' WHERE id = 2", ()))
    code, out = verify(run_cli, "2")
    assert code == 1
    assert "run 2 status 'succeeded' is not supported by the audit chain" in out
    assert "(its events say 'awaiting_approval')" in out


def test_a_truncated_log_with_its_counters_fixed_is_caught(run_cli: RunCli, state: Path) -> None:
    count = query(state, "SELECT event_count FROM runs WHERE id = 2")[0][0]
    head = query(state, "SELECT hash FROM events WHERE run_id = 2 AND seq = ?", count - 1)[0][0]
    sql(
        state,
        ("DELETE FROM events WHERE run_id = 2 AND seq = ?", (count,)),
        ("UPDATE runs SET event_count = ?, head_hash = ? WHERE id = 2", (count - 1, head)),
    )
    code, out = verify(run_cli)
    assert code == 1
    assert "later events were deleted" in out or "does not match the sealed head" in out, out


def test_a_store_cut_back_with_the_key_is_caught_by_a_periodic_witness(
    run_cli: RunCli, state: Path
) -> None:
    """Run 2 is still waiting, so no final head of it is witnessed: bob approves, ``audit
    witness`` anchors the store-wide head, then someone with the key deletes the approval
    (event and row), fixes the run's counters and reseals the store-wide head."""
    assert run_cli("approve", "2", "--note", "lgtm", user="bob").returncode == 0
    witness = {"RUNWRIGHT_WITNESS": str(state / "witness.log")}
    witnessed = run_cli("audit", "witness", env=witness)
    assert witnessed.returncode == 0, witnessed.stderr
    assert "witnessed store-wide event" in witnessed.stdout
    key = ChainKey(bytes.fromhex((state / "audit.key").read_text().strip()))
    (gseq,) = query(state, "SELECT gseq FROM chain_head")[0]
    count = query(state, "SELECT event_count FROM runs WHERE id = 2")[0][0]
    head, before = query(state, "SELECT hash, gseq FROM events WHERE run_id = 2 AND seq = ?",
                         count - 1)[0]  # fmt: skip
    sql(
        state,
        ("DELETE FROM events WHERE run_id = 2 AND seq = ? AND type = 'approval.given'", (count,)),
        ("DELETE FROM approvals WHERE run_id = 2", ()),
        ("UPDATE runs SET event_count = ?, head_hash = ? WHERE id = 2", (count - 1, head)),
        ("UPDATE chain_head SET gseq = ?, head = ?, seal = ?",
         (before, head, head_seal(key, before, head))),
    )  # fmt: skip
    code, out = verify(run_cli)
    assert code == 0, out  # with the key, the chain alone cannot tell
    code, out = verify(run_cli, "--witness", str(state / "witness.log"))
    assert code == 1
    assert f"the store-wide chain ends at event {before}, but event {gseq} was witnessed" in out


def test_a_deleted_run_is_caught_and_named_by_the_witness(run_cli: RunCli, state: Path) -> None:
    sql(
        state,
        ("DELETE FROM events WHERE run_id = 1", ()),
        ("DELETE FROM steps WHERE run_id = 1", ()),
        ("DELETE FROM revisions WHERE run_id = 1", ()),
        ("DELETE FROM runs WHERE id = 1", ()),
    )
    code, out = verify(run_cli, "--witness", str(state / "witness.log"))
    assert code == 1
    assert "events or a whole run were deleted" in out
    assert "run 1 was deleted (the witness saw it end with event #" in out


def test_a_history_resealed_with_the_real_key_is_caught_by_the_witness(
    run_cli: RunCli, state: Path
) -> None:
    key = ChainKey(bytes.fromhex((state / "audit.key").read_text().strip()))

    def edit(row: dict[str, Any]) -> None:
        if row["run_id"] == 1 and row["type"] == "step.succeeded" and row["step"] == "install":
            row["data"] = row["data"].replace("installed", "installed (edited)")

    reseal_everything(state / "runwright.db", key, edit)
    sql(state, ("UPDATE steps SET summary = summary || ' (edited)' "
                "WHERE run_id = 1 AND name = 'install'", ()))  # fmt: skip
    code, out = verify(run_cli)
    assert code == 0, out  # with the key, the chain alone cannot tell
    code, out = verify(run_cli, "--witness", str(state / "witness.log"))
    assert code == 1
    assert "run 1's history was rewritten: event #" in out


def test_a_replaced_key_is_caught_by_the_witness(run_cli: RunCli, state: Path) -> None:
    other = ChainKey(b"\x07" * 32)
    reseal_everything(state / "runwright.db", other, lambda row: None)
    (state / "audit.key").write_text(other.secret.hex() + "\n")
    code, out = verify(run_cli)
    assert code == 0, out  # resealed under the new key, the chain alone is consistent
    code, out = verify(run_cli, "--witness", str(state / "witness.log"))
    assert code == 1
    assert f"not the key here ({other.key_id}): the key was replaced" in out


def test_a_hash_or_seal_edited_to_text_that_is_not_ascii_is_caught_not_a_crash(
    run_cli: RunCli, state: Path
) -> None:
    edited = "UPDATE events SET hash = '\u00e9' || substr(hash, 2) WHERE run_id = 1 AND seq = 2"
    sql(state, (edited, ()))
    code, out = verify(run_cli, "1")
    assert code == 1
    assert "event #2 (run.started) was edited" in out
    sql(state, ("UPDATE chain_head SET seal = '\u00e9' || substr(seal, 2)", ()))
    code, out = verify(run_cli)
    assert code == 1
    assert "the store-wide head was altered" in out
    witness = state / "witness.log"
    lines = witness.read_text().splitlines()
    line = json.loads(lines[-1])
    line["sig"] = "\u00e9" + line["sig"][1:]
    witness.write_text("\n".join([*lines[:-1], json.dumps(line)]) + "\n")
    code, out = verify(run_cli, "--witness", str(witness))
    assert code == 1
    assert "its signature does not match" in out
