"""Kill anywhere: SIGKILL a deploy of ten steps (idempotent and not, each effect counted) at
every event boundary and at random instants inside steps; then recover as an operator would
(``resume``; ``settle --wait`` and then ``--done`` or ``--rerun`` by what the effect log says).
Every run must end succeeded, no non-idempotent effect may happen twice, every run must have
its revision, no lock and no step process may be left, and every chain must verify.

Each deploy runs in a forked child of this process (the modules are already imported, so a
kill costs milliseconds, not a Python start-up); recovery runs here. One database serves all
the runs in turn, so revisions are numbered across them. The random instants come from a
seeded RNG, so a failure is reproducible. The second test does the same to a product of three
services, at every crash point of its release and of its rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT
from tests.support.releases import MARKER, alive, marked

from runwright.app.runs import decisions, runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.audit import verify_run
from runwright.engine.chain import load_key
from runwright.engine.clock import SystemClock
from runwright.engine.leases import orphans
from runwright.engine.machine import in_flight
from runwright.engine.scheduler import view_of
from runwright.engine.store import Store
from runwright.model.status import RunStatus

BOOK = ROOT / "tests" / "fixtures" / "runbooks" / "ten_steps.yaml"
STEPS = [f"s{n}" for n in range(1, 11)]
IDEMPOTENT = {f"s{n}" for n in range(1, 11, 2)}
BOUNDARIES = [
    f"{point}:{step}" for step in STEPS for point in ("before", "started", "process", "after")
] + ["finishing", "finished"]
RANDOM_KILLS = 8
SEED = 20261130

pytestmark = pytest.mark.slow


def runtime(state: Path, crash_at: str | None = None) -> Runtime:
    """A runtime on the shared state; SQLite without fsync per commit, which a process kill
    (unlike a power cut) cannot tell apart."""
    settings = Settings.from_environ({"PATH": os.environ["PATH"]}, state_dir=str(state))
    settings = replace(settings, crash_at=crash_at)
    key = load_key(state, {})
    return Runtime(settings, Store.open(settings.database_url, key=key, durable=False),
                   SystemClock())  # fmt: skip


def start_deploy(state: Path, work: Path, version: str, crash_at: str | None) -> int:
    """Fork a child that deploys (and may kill itself at ``crash_at``); return its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        rt = runtime(state, crash_at)
        run = asyncio.run(runs.deploy(rt, BOOK, "staging", version, overrides={"dir": str(work)}))
        code = runs.exit_code_for(run)
    finally:
        os._exit(code)


def effects(work: Path) -> Counter[str]:
    path = work / "effects"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def recover(rt: Runtime, run_id: int, work: Path) -> None:
    """What a careful operator does after the crash, until the run ends."""
    for _ in range(30):
        run = rt.store.run(run_id)
        if run.terminal:
            return
        if run.status == RunStatus.AWAITING_SETTLEMENT:
            view, _what = in_flight(view_of(run, rt.store.steps(run_id)))[0]
            row = rt.store.step(run_id, view.section, view.idx)
            mark_data = row.data.get("process")
            orphan = "wait" if mark_data else None
            if orphan:
                from runwright.engine.processes import ProcessMark

                mark = ProcessMark.from_data(mark_data)
                assert mark is not None
                mark.wait(timeout=20)
            choice = "done" if effects(work)[view.name] else "rerun"
            asyncio.run(decisions.settle_step(rt, run_id, view.name, choice, orphan=orphan))
            continue
        asyncio.run(runs.resume(rt, run_id))
    pytest.fail(f"run {run_id} did not end after 30 recoveries ({rt.store.run(run_id).status})")


def check(rt: Runtime, run_id: int, work: Path, label: str) -> None:
    run = rt.store.run(run_id)
    assert run.status == RunStatus.SUCCEEDED, f"{label}: {run.status} ({run.failure})"
    counted = effects(work)
    for step in STEPS:
        if step in IDEMPOTENT:
            assert counted[step] >= 1, f"{label}: {step} never took effect"
        else:
            assert counted[step] == 1, f"{label}: {step} took effect {counted[step]} times"
    assert run.revision is not None, f"{label}: the revision was lost"
    numbers = [r.number for r in rt.store.revisions("ten", "staging") if r.run_id == run_id]
    assert numbers == [run.revision], f"{label}: revision {run.revision} not in {numbers}"
    assert rt.store.lock_holder("ten", "staging") is None, f"{label}: lock left behind"
    assert orphans(rt.store.steps(run_id)) == [], f"{label}: a step process is left running"
    verdict = verify_run(rt.store, run_id)
    assert verdict.ok, f"{label}: {verdict.message}"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def test_sigkill_at_every_boundary_and_random_instants_ends_every_run_correctly(
    state: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    rt = runtime(state)
    try:
        clean = tmp_path / "clean"
        clean.mkdir()
        began = time.monotonic()
        pid = start_deploy(state, clean, "v0", None)
        assert os.waitpid(pid, 0)[1] == 0
        span = time.monotonic() - began
        check(rt, 1, clean, "uninterrupted")

        plan: list[tuple[str, str | None, float | None]] = [(b, b, None) for b in BOUNDARIES]
        plan += [(f"random #{n}", None, rng.uniform(0.05, span)) for n in range(RANDOM_KILLS)]
        for run_id, (label, crash_at, delay) in enumerate(plan, start=2):
            work = tmp_path / f"run{run_id}"
            work.mkdir()
            pid = start_deploy(state, work, f"v{run_id}", crash_at)
            if delay is not None:
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            if crash_at is not None:
                assert os.WIFSIGNALED(status), f"{label}: the crash point was never reached"
            if rt.store.run_or_none(run_id) is None:
                # killed before the run existed: nothing happened, so deploy again
                assert effects(work) == Counter(), f"{label}: an effect without a run"
                assert os.waitpid(start_deploy(state, work, f"v{run_id}", None), 0)[1] == 0
            recover(rt, run_id, work)
            check(rt, run_id, work, label)
        numbers = sorted(r.number for r in rt.store.revisions("ten", "staging"))
        assert numbers == list(range(1, len(plan) + 2))
    finally:
        rt.close()


# -- a product: three services, each a real process, released and rolled back ---------------
#
# SIGKILL a three-service release (backend and frontend behind built-in routers, a worker
# recreated without one) at every crash point of the release and of its rollback, then
# ``resume``: every run must end as it would have without the kill (succeeded with the whole
# new set, or rolled back to the whole previous one), no instance may run twice, and no
# process may be left that no revision holds. The services are real processes started by
# the local driver; they outlive the killed runwright exactly as they would in production.

SERVICES = ("backend", "worker", "frontend")
ROUTED = ("backend", "frontend")


def _book(ports: dict[str, int], mark: str) -> dict[str, Any]:
    command = "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}"

    def service(**extra: Any) -> dict[str, Any]:
        env = {MARKER: mark, "PYTHONPATH": str(ROOT / "src")}
        base = {"command": command, "env": env, "start_timeout": "20s", "stop_timeout": "2s"}
        return {**base, **extra}

    def router(name: str) -> dict[str, str]:
        return {"listen": f"127.0.0.1:{ports[name]}", "admin": f"127.0.0.1:{ports[name + '+']}"}

    return {
        "name": "trio",
        "vars": {"python": sys.executable, "fail": 0},
        "environments": {"local": {}},
        "checks": {
            "verdict": {
                "provider": "command",
                "query": "echo {{ fail }}",
                "fail_if": "> 0",
                "interval": "0.1s",
            },
        },  # fmt: skip
        "services": {
            "backend": service(router=router("backend"), release={"strategy": "blue_green"}),
            "worker": service(after=["backend"], release={"strategy": "recreate"}),
            "frontend": service(
                after=["backend"],
                router=router("frontend"),
                release={"strategy": "blue_green", "bake": "0.3s", "analysis": ["verdict"]},
            ),
        },
    }


def start_product_deploy(
    state: Path, book: Path, version: str, fail: int, crash_at: str | None
) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        rt = runtime(state, crash_at)
        overrides = {"fail": str(fail)}
        run = asyncio.run(runs.deploy(rt, book, "local", version, overrides=overrides))
        code = runs.exit_code_for(run)
    finally:
        os._exit(code)


class Trio:
    def __init__(self, state: Path, book: Path, mark: str, ports: dict[str, int]) -> None:
        self.state, self.book, self.mark, self.ports = state, book, mark, ports
        self.rt = runtime(state)

    def deploy(self, version: str, fail: int = 0, crash_at: str | None = None) -> int | None:
        """Deploy (killed at ``crash_at``), recover, and return the run's id."""
        before = {r.id for r in self.rt.store.runs(limit=10**6)}
        status = os.waitpid(
            start_product_deploy(self.state, self.book, version, fail, crash_at), 0
        )[1]
        if crash_at is not None:
            assert os.WIFSIGNALED(status), f"{crash_at}: the crash point was never reached"
        new = [r.id for r in self.rt.store.runs(limit=10**6) if r.id not in before]
        if not new:
            return None
        (run_id,) = new
        for _ in range(10):
            if self.rt.store.run(run_id).terminal:
                return run_id
            asyncio.run(runs.resume(self.rt, run_id))
        pytest.fail(f"{crash_at}: run {run_id} did not end ({self.rt.store.run(run_id).status})")

    def running(self, service: str) -> dict[str, int]:
        folder = self.state / "services" / f"trio-{service}-local"
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        return {r["version"]: int(r["pid"]) for r in records if alive(int(r["pid"]))}

    def routed(self, service: str) -> list[tuple[str, int]]:
        url = f"http://127.0.0.1:{self.ports[service + '+']}/status"
        token = self.state / "routers" / f"trio-{service}-local" / "router" / "admin.token"
        headers = {"Authorization": f"Bearer {token.read_text().strip()}"}
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=5
        ) as resp:
            return [(b["name"], b["weight"]) for b in json.loads(resp.read())["backends"]]

    def check(self, label: str, run_id: int, status: RunStatus, version: str) -> None:
        """The run ended with ``status`` and every service runs ``version``, alone."""
        run = self.rt.store.run(run_id)
        assert run.status == status, f"{label}: {run.status} ({run.failure})"
        live = self.rt.store.revisions("trio", "local")[0]
        assert live.state["versions"] == dict.fromkeys(SERVICES, version), label
        pids = set()
        for service in SERVICES:
            running = self.running(service)
            assert list(running) == [version], f"{label}: {service} runs {running}"
            pids |= set(running.values())
        for service in ROUTED:
            assert self.routed(service) == [(version, 100)], f"{label}: {service} router"
        strays = {
            p for p in marked(self.mark) if os.getpgid(p) not in {os.getpgid(q) for q in pids}
        }
        assert not strays, f"{label}: processes no revision holds: {strays}"
        assert self.rt.store.lock_holder("trio", "local") is None, f"{label}: lock left"
        assert verify_run(self.rt.store, run_id).ok, label

    def points(self, run_id: int) -> tuple[list[str], list[str]]:
        """The crash points of a run's release and of its rollback, from its journal."""
        forward, undo = [], []
        for event in self.rt.store.events(run_id):
            if event.type == "step.started":
                forward += [f"{p}:{event.step}" for p in ("before", "started", "after")]
                if str(event.step).startswith("start new version"):
                    forward.append(f"noted:{event.step}")
            if event.type == "undo.started":
                undo += [f"{p}:{event.step}" for p in ("before-undo", "started-undo", "after-undo")]
        return forward, undo


@pytest.fixture
def trio(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Trio]:
    state = tmp_path / "state"
    state.mkdir()
    ports = {k: free_port() for k in ("backend", "backend+", "frontend", "frontend+")}
    mark = uuid.uuid4().hex
    book = tmp_path / "trio.yaml"
    book.write_text(yaml.safe_dump(_book(ports, mark), sort_keys=False))
    lab = Trio(state, book, mark, ports)
    try:
        yield lab
    finally:
        for pid in marked(mark):
            os.kill(pid, 9)
        for service in ROUTED:
            base = state / "routers" / f"trio-{service}-local" / "router"
            for path in base.glob("*.json"):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    os.kill(int(json.loads(path.read_text())["pid"]), 9)
        lab.rt.close()


def test_sigkill_at_every_point_of_a_product_release_and_rollback_ends_every_run_correctly(
    trio: Trio,
) -> None:
    first = trio.deploy("v1")
    assert first is not None
    trio.check("first release", first, RunStatus.SUCCEEDED, "v1")
    clean = trio.deploy("v2")
    assert clean is not None
    trio.check("uninterrupted release", clean, RunStatus.SUCCEEDED, "v2")
    failed = trio.deploy("v3", fail=1)
    assert failed is not None
    trio.check("uninterrupted rollback", failed, RunStatus.ROLLED_BACK, "v2")
    release, _ = trio.points(clean)
    _, rollback = trio.points(failed)
    assert len(release) >= 20
    assert len(rollback) >= 15

    current = 2
    for n, point in enumerate([*release, "finishing", "finished"], start=4):
        run_id = trio.deploy(f"v{n}", crash_at=point)
        assert run_id is not None, point
        trio.check(point, run_id, RunStatus.SUCCEEDED, f"v{n}")
        current = n
    for n, point in enumerate(rollback, start=current + 1):
        run_id = trio.deploy(f"v{n}", fail=1, crash_at=point)
        assert run_id is not None, point
        trio.check(point, run_id, RunStatus.ROLLED_BACK, f"v{current}")
