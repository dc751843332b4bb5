"""Kill anywhere: SIGKILL a deploy of ten steps (idempotent and not, each effect counted) at
every event boundary and at random instants inside steps; then recover as an operator would
(``resume``; ``settle --wait`` and then ``--done`` or ``--rerun`` by what the effect log says).
Every run must end succeeded, no non-idempotent effect may happen twice, every run must have
its revision, no lock and no step process may be left, and every chain must verify.

Each deploy runs in a forked child of this process (the modules are already imported, so a
kill costs milliseconds, not a Python start-up); recovery runs here. One database serves all
the runs in turn, so revisions are numbered across them. The random instants come from a
seeded RNG, so a failure is reproducible.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import ROOT

from runwright.app import decisions, runs
from runwright.app.runtime import Runtime
from runwright.app.settings import Settings
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
