"""Three ``runwright worker`` processes on one PostgreSQL store drive 60 queued runs over 12
environments while a seeded chaos loop SIGKILLs them and SIGSTOPs them past their lease (then
SIGCONTs them); a supervisor restarts any that exit, and an operator settles each run that
waits for a person (after its orphan ends: --done if its effect is there, else --rerun).
Every run must succeed with each non-idempotent effect exactly once, no environment ever
used by two runs at once, and the whole store's audit chain intact."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from tests.support.postgres import Cluster
from tests.support.workers import BOOK, Fleet, query

from runwright.app.runs import decisions
from runwright.app.runs.worker import queue
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.processes import ProcessMark
from runwright.model.status import Settlement

TTL = 2.0
WORKERS = ("w0", "w1", "w2")
RUNS = 60
STEPS = ("fetch", "migrate", "restart", "announce", "finish")
NON_IDEMPOTENT = ("migrate", "announce")
CHAOS_FOR = 30.0
DEADLINE = 110.0


@pytest.fixture
def fleet(pg_cluster: Cluster, tmp_path: Path, state_dir: Path) -> Iterator[Fleet]:
    url = pg_cluster.createdb(f"rw_{uuid4().hex[:12]}").replace("+psycopg", "")
    logs = tmp_path / "logs"
    logs.mkdir()
    f = Fleet(state_dir, url, TTL, logs)
    yield f
    f.stop_all()


def operator(fleet: Fleet) -> Runtime:
    return Runtime.open(Settings.from_environ(fleet.env("operator")))


def settle_waiting(rt: Runtime, work: Path) -> int:
    """Settle every run waiting for a settlement as a careful operator would."""
    settled = 0
    for run in rt.store.runs(active=True):
        if run.status != "awaiting_settlement":
            continue
        row = next(s for s in rt.store.steps(run.id) if s.status == "running")
        mark = ProcessMark.from_data(row.data.get("process"))
        if mark is not None:
            mark.wait(timeout=30)
        effects = (work / "effects").read_text().splitlines()
        done = f"{run.id} {row.name}" in effects
        choice = Settlement.DONE if done else Settlement.RERUN
        asyncio.run(decisions.settle_step(rt, run.id, row.name, choice, orphan="wait"))
        settled += 1
    return settled


def busy(fleet: Fleet) -> list[str]:
    """Workers holding a run now (a worker still starting has nothing to lose)."""
    owners = query(fleet.url, "SELECT lease_owner FROM runs WHERE finished_at IS NULL "
                   "AND lease_owner IS NOT NULL")  # fmt: skip
    return sorted({str(o[0]).split("@", 1)[0] for o in owners} & set(WORKERS))


def chaos(fleet: Fleet, rng: random.Random, paused: dict[str, float]) -> str:
    choices = [n for n in busy(fleet) if n not in paused and fleet.procs[n].poll() is None]
    if not choices:
        return "none"
    name = rng.choice(choices)
    if rng.random() < 0.5:
        fleet.signal(name, signal.SIGKILL)
        fleet.procs[name].wait(10)
        return "kill"
    fleet.signal(name, signal.SIGSTOP)
    paused[name] = time.monotonic() + TTL + rng.uniform(2.0, 3.5)
    return "stop"


@pytest.mark.slow
def test_a_fleet_killed_and_paused_at_random_ends_every_run_correctly(
    fleet: Fleet, tmp_path: Path
) -> None:
    rng = random.Random(18)
    work = tmp_path / "work"
    work.mkdir()
    rt = operator(fleet)
    ids = [
        queue(rt, BOOK, f"e{i % 12:02d}", f"1.{i}", overrides={"dir": str(work), "nap": "0.1"})
        for i in range(RUNS)
    ]
    for name in WORKERS:
        fleet.start(name)
    start = time.monotonic()
    paused: dict[str, float] = {}
    actions: Counter[str] = Counter()
    next_chaos = start + 2.0
    while time.monotonic() - start < DEADLINE:
        now = time.monotonic()
        for name, until in list(paused.items()):
            if now >= until:
                fleet.signal(name, signal.SIGCONT)
                del paused[name]
        for name in WORKERS:
            if name not in paused and fleet.procs[name].poll() is not None:
                actions[f"exit {fleet.procs[name].returncode}"] += 1
                fleet.start(name)
        if now - start < CHAOS_FOR and now >= next_chaos:
            actions[chaos(fleet, rng, paused)] += 1
            next_chaos = now + rng.uniform(0.8, 2.0)
        actions["settled"] += settle_waiting(rt, work)
        left = query(fleet.url, "SELECT count(*) FROM runs WHERE finished_at IS NULL")[0][0]
        if left == 0:
            break
        time.sleep(0.2)
    statuses = Counter(r.status for r in rt.store.runs(limit=1000))
    assert statuses == Counter({"succeeded": RUNS}), (statuses, actions)
    assert actions["kill"], actions
    assert actions["stop"], actions
    effects = Counter((work / "effects").read_text().splitlines())
    for run_id in ids:
        for step in STEPS:
            count = effects[f"{run_id} {step}"]
            if step in NON_IDEMPOTENT:
                assert count == 1, (run_id, step, count, actions)
            else:
                assert count >= 1, (run_id, step)
    assert not (work / "overlaps").exists(), (work / "overlaps").read_text()
    takeovers = query(fleet.url, "SELECT count(*) FROM events WHERE type = 'run.taken_over'")
    assert takeovers[0][0] >= 1
    verified = fleet.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"chaos: {dict(actions)}; takeovers {takeovers[0][0]}; "
          f"{time.monotonic() - start:.1f}s")  # fmt: skip
    rt.close()
