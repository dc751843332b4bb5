"""The event table is the bus: a third process following a run sees what two others did.

``runwright deploy --wait`` waits for its approval in one process, ``runwright approve``
gives it from a second, and ``runwright logs RUN --follow`` in a third prints the approval and
the run's end in order, each within one poll interval of its commit (plus the scheduling
slack of a loaded machine). On SQLite the follower polls; on PostgreSQL it is woken by
LISTEN/NOTIFY, shown by a poll interval far longer than the time the events take to arrive.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from tests.conftest import ROOT, cli_command, cli_environ
from tests.support.postgres import Cluster

from runwright.engine.chain import ChainKey
from runwright.engine.store import Store

pytestmark = pytest.mark.slow

AUDIT_KEY = "5e" * 32
"""The processes and this test share the audit key (a PostgreSQL store has none beside it)."""

SLACK = 1.5
"""Seconds a process on a loaded two-core machine may take to be scheduled and print."""

BOOK = """\
name: gated
vars:
  dir: /tmp
environments:
  production:
    approvals: {required: 1, not_by_initiator: true}
    identity: self_declared
phases:
  - name: release
    steps:
      - name: ship
        run: echo shipped {{ version }} >> {{ dir }}/log
"""


@dataclass
class Follower:
    """A ``runwright logs RUN --follow --json`` process and each line with when it arrived."""

    proc: subprocess.Popen[str]
    lines: list[tuple[float, dict[str, object]]] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), json.loads(line)))


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli_command(), *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stderr(proc: subprocess.Popen[str]) -> str:
    return proc.stderr.read() if proc.stderr else ""


def _wait_status(url: str, run_id: int, status: str, deadline: float = 60.0) -> None:
    store = Store.open(url, key=ChainKey(bytes.fromhex(AUDIT_KEY)))
    try:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if store.run(run_id).status == status:
                    return
            except Exception:  # noqa: BLE001 - the run may not exist yet
                pass
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} never reached {status}")
    finally:
        store.close()


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def _three_processes(
    tmp_path: Path, url: str, poll: float, procs: list[subprocess.Popen[str]]
) -> Follower:
    book = tmp_path / "gated.yaml"
    book.write_text(BOOK)
    env = cli_environ(tmp_path / "state", RUNWRIGHT_DATABASE_URL=url, RUNWRIGHT_AUDIT_KEY=AUDIT_KEY)
    deploy = _spawn(
        ["deploy", str(book), "-e", "production", "--version", "v1", "--var", f"dir={tmp_path}",
         "--wait", "--quiet"],
        env,
    )  # fmt: skip
    procs.append(deploy)
    _wait_status(url, 1, "awaiting_approval")
    follow = ["logs", "1", "--follow", "--json", "--poll-interval", str(poll)]
    follower = Follower(_spawn(follow, env))
    procs.append(follower.proc)
    reader = threading.Thread(target=follower.read, daemon=True)
    reader.start()
    while not any(line["type"] == "step.blocked" for _, line in follower.lines):
        assert follower.proc.poll() is None, _stderr(follower.proc)
        time.sleep(0.05)
    approve = subprocess.run(
        [*cli_command(), "approve", "1", "--note", "ship it"],
        env={**env, "RUNWRIGHT_USER": "bob"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert approve.returncode == 0, approve.stderr
    assert deploy.wait(120) == 0, _stderr(deploy)
    assert follower.proc.wait(60) == 0, _stderr(follower.proc)
    reader.join(10)
    assert (tmp_path / "log").read_text() == "shipped v1\n"
    return follower


def _latency(received: float, event: dict[str, object]) -> float:
    committed = datetime.fromisoformat(str(event["at"])).astimezone(UTC).timestamp()
    return received - committed


def _assert_seen_in_order(follower: Follower, bound: float) -> None:
    events = [e for _, e in follower.lines]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "every event once, in commit order"
    types = [e["type"] for e in events]
    approval, end = types.index("approval.given"), types.index("run.finished")
    assert approval < end
    assert events[approval]["actor"] == "bob"
    assert events[end]["data"] == {"status": "succeeded"}
    for received, event in follower.lines[approval:]:
        assert _latency(received, event) < bound, (event["type"], _latency(received, event))


def test_a_third_process_follows_the_approval_and_the_end_on_sqlite(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'runwright.db'}"
    poll = 0.5
    follower = _three_processes(tmp_path, url, poll, stop_all)
    _assert_seen_in_order(follower, poll + SLACK)


@pytest.mark.postgres
def test_on_postgresql_the_follower_is_woken_by_notify_not_its_poll(
    tmp_path: Path, pg_cluster: Cluster, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = pg_cluster.createdb(f"rw_{uuid4().hex[:12]}")
    poll = 30.0
    follower = _three_processes(tmp_path, url, poll, stop_all)
    _assert_seen_in_order(follower, SLACK + 1.0)
