"""Events whose ids commit out of id order on PostgreSQL still reach every consumer, once.

PostgreSQL hands out an event's id when its transaction inserts it, not when it commits: a
transaction that took id N can commit after one that took N + 1. A reader that asks for
``id > last`` passes N over for good. Here connection A takes an id and holds its transaction
open, B commits a later event, then A commits its own with the earlier id; the dashboard's
stream (a real ``runwright serve``) and a run's notifications (a webhook to a local receiver)
must each get both events, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import ROOT, cli_command, cli_environ
from tests.support.postgres import Cluster
from tests.support.receivers import Receiver, receiver
from tests.support.web import web_server

from runwright.app.notifications.notifications import Notifier
from runwright.app.runtime.runtime import read_runbook_text
from runwright.engine import tables as t
from runwright.engine.chain import ChainKey
from runwright.engine.clock import SystemClock
from runwright.engine.redact import Redactor
from runwright.engine.store import NewStep, Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AUDIT_KEY = "3c" * 32
DEADLINE = 15.0
BOOK = """\
name: shop
environments:
  production: {{}}
sinks:
  hook:
    webhook: {{url: "{hook}/events", timeout: 5s}}
notify:
  - to: hook
    events: [started, succeeded]
phases:
  - name: release
    steps:
      - name: ship
        run: "true"
"""


def _until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, f"not within {DEADLINE:g} s: {what}"
        time.sleep(0.05)


class Stream:
    """The dashboard's event stream, read in a thread: every event frame's JSON."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.events: list[dict[str, object]] = []
        self.open = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = httpx.Timeout(30, read=1.0)
        with (
            httpx.Client(base_url=self.url, headers=headers, timeout=timeout) as client,
            client.stream("GET", "/api/v1/events/stream") as response,
        ):
            assert response.status_code == 200
            self.open.set()
            try:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line.removeprefix("data: ")))
                    if self.stop.is_set():
                        return
            except httpx.ReadTimeout:
                return

    def ids(self) -> list[object]:
        return [e["id"] for e in self.events]


class Notifying:
    """A run's notifier following its events on an event loop of its own, as a deploy does."""

    def __init__(self, store: Store, run: int, hook: Receiver) -> None:
        book = read_runbook_text(BOOK.format(hook=hook.url), "shop.yaml")
        self.notifier = Notifier(
            store, SystemClock(), book, "production", {}, Redactor(), "alice", poll=1.0
        )
        self.run = run
        self.done = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._follow(),), daemon=True)
        self.thread.start()

    async def _follow(self) -> None:
        task = asyncio.create_task(self.notifier.follow(self.run))
        await asyncio.to_thread(self.done.wait)
        self.notifier.stop()
        await task
        await self.notifier.aclose()


def _events_of(hook: Receiver) -> list[str]:
    return [str(json.loads(body)["event"]) for body in hook.bodies()]


def _token(state: Path, url: str) -> str:
    env = cli_environ(state, RUNWRIGHT_DATABASE_URL=url, RUNWRIGHT_AUDIT_KEY=AUDIT_KEY)
    done = subprocess.run(
        [*cli_command(), "token", "create", "--user", "alice", "--expires", "1h"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def store(pg_cluster: Cluster) -> Iterator[Store]:
    s = Store.open(
        pg_cluster.createdb(f"rw_{uuid4().hex[:12]}"), key=ChainKey(bytes.fromhex(AUDIT_KEY))
    )
    yield s
    s.close()


def _new_run(store: Store, hook: Receiver) -> int:
    return store.create_run(
        runbook="shop", environment="production", version="v1", initiator="alice",
        file="shop.yaml", text=BOOK.format(hook=hook.url), digest="e" * 64, params={},
        steps=[NewStep("release", 0, "all", "ship", "run", {"kind": "run"})],
        now=datetime.now(UTC),
    )  # fmt: skip


def _commit_late(conn: sa.Connection, taken: int, run: int) -> None:
    """A's event, with the id it took before B committed: the run's end."""
    count = conn.execute(
        sa.update(t.runs).where(t.runs.c.id == run)
        .values(event_count=t.runs.c.event_count + 1, status="succeeded")
        .returning(t.runs.c.event_count)
    ).scalar_one()  # fmt: skip
    conn.execute(
        sa.insert(t.events).values(
            id=taken, run_id=run, seq=count, at=datetime.now(UTC), actor="alice",
            type="run.finished", step=None, data=json.dumps({"status": "succeeded"}),
            prev_hash="0" * 64, hash="1" * 64,
        )
    )  # fmt: skip
    conn.commit()


def test_events_committed_out_of_id_order_reach_the_stream_and_a_sink_once_each(
    tmp_path: Path, store: Store
) -> None:
    url = store.engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
    state, books = tmp_path / "state", tmp_path / "books"
    state.mkdir()
    books.mkdir()
    server_env = {"RUNWRIGHT_DATABASE_URL": url, "RUNWRIGHT_AUDIT_KEY": AUDIT_KEY}
    with (
        receiver(lambda _req: (200, None)) as hook,
        web_server(state, books, env=server_env) as web,
    ):
        run = _new_run(store, hook)
        stream = Stream(web.url, _token(state, url))
        _until("the stream is open", stream.open.is_set)
        notifying = Notifying(store, run, hook)
        try:
            with store.engine.connect() as a:
                taken = a.execute(
                    sa.text("SELECT nextval(pg_get_serial_sequence('events', 'id'))")
                ).scalar_one()
                b = store.append(
                    run, actor="alice", type="run.started", at=datetime.now(UTC),
                    data={"from": "pending"}, run_values={"status": "running"},
                )  # fmt: skip
                assert b.id > taken, "B committed a later id while A holds an earlier one"
                _until("B's event streamed", lambda: b.id in stream.ids())
                _until("B's notification sent", lambda: _events_of(hook) == ["started"])
                _commit_late(a, taken, run)
            _until("A's event streamed", lambda: taken in stream.ids())
            _until("A's notification sent", lambda: len(_events_of(hook)) == 2)
            time.sleep(1.0)  # a few more polls and wake-ups: nothing comes twice
        finally:
            notifying.done.set()
            notifying.thread.join(DEADLINE)
            stream.stop.set()
    ids = stream.ids()
    assert len(ids) == len(set(ids)), f"an event streamed twice: {ids}"
    runs = [(e["id"], e["type"]) for e in stream.events if str(e["type"]).startswith("run.")]
    assert runs == [(b.id, "run.started"), (taken, "run.finished")]
    sent = [e for e in stream.events if e["type"] == "notification.sent"]
    assert len(sent) == 2, "the two deliveries are in the stream too"
    assert _events_of(hook) == ["started", "succeeded"]
