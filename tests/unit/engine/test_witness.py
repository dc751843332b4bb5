"""The witness file: a run's final head is appended when the run ends, and each line is
checked against the database: intact, forged, edited, unreadable, or naming a head the
database no longer holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.tamper import tamper

from runwright.engine.chain import ChainKey
from runwright.engine.store import Store
from runwright.engine.witness import Witness, check
from runwright.errors import InputError
from runwright.model.status import RunStatus

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY = ChainKey(bytes(range(32)))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'runwright.db'}", key=KEY)
    s.on_run_end = Witness(tmp_path / "witness.log", KEY).run_ended
    yield s
    s.close()


def finished_run(store: Store, environment: str) -> int:
    run_id = store.create_run(
        runbook="shop", environment=environment, version="v1", initiator="alice",
        file="shop.yaml", text="", digest="d" * 64, params={}, steps=[], now=T0,
        created={"version": "v1"},
    )  # fmt: skip
    for n, status in enumerate((RunStatus.RUNNING, RunStatus.SUCCEEDED), start=1):
        store.append(run_id, actor="alice", type=f"run.{status}", at=T0 + timedelta(seconds=n),
                     run_values={"status": status})  # fmt: skip
    return run_id


def test_a_run_end_is_witnessed_and_checks_out(store: Store, tmp_path: Path) -> None:
    finished_run(store, "staging")
    lines = (tmp_path / "witness.log").read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["kind"], line["run"], line["seq"], line["gseq"]) == ("run", 1, 3, 3)
    assert check(store, tmp_path / "witness.log") == (1, [])


def test_a_forged_edited_or_unreadable_line_is_named(store: Store, tmp_path: Path) -> None:
    finished_run(store, "staging")
    path = tmp_path / "witness.log"
    line = json.loads(path.read_text())
    edited = {**line, "seq": 2}
    with path.open("a") as f:
        f.write(json.dumps(edited) + "\nnot json\n")
    checked, problems = check(store, path)
    assert checked == 2
    assert problems[0].startswith(f"{path}:2 (")
    assert problems[0].endswith("its signature does not match: the line was forged or edited")
    assert problems[1] == f"{path}:3: not a runwright witness line"


def test_a_store_head_line_finds_a_deleted_chain_head(store: Store, tmp_path: Path) -> None:
    finished_run(store, "staging")
    path = tmp_path / "head.log"
    Witness(path, KEY).store_head(store.chain_head(), T0)
    tamper(store, "DELETE FROM chain_head")
    _checked, problems = check(store, path)
    assert problems == [
        f"{path}:1 (2026-03-02T09:30:00.000000Z): the store-wide head record (chain_head) is "
        "gone, but event 3 was witnessed"
    ]


def test_a_missing_witness_file_is_bad_input(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read witness file"):
        check(store, tmp_path / "nowhere.log")
