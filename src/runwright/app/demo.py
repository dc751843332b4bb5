"""``runwright demo``: the product in one command, on localhost, with real processes.

It writes a runbook for the bundled demo service, deploys v1 behind a router, puts live
traffic through the router from a load generator, releases v2 blue-green, then releases a v3
whose smoke test fails and is rolled back, then a v4 canary that passes its smoke test but
fails 20% of user requests, which analysis of the router's own counters catches and rolls
back. It reports what users saw: requests, failures (and which version failed them), which
version answered, and how long each rollback took. Everything runs in its own state
directory so the demo never touches a user's real runs; its reports stay there to read.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.drivers.local import free_port
from runwright.engine.executor import Observer
from runwright.engine.store import RunRow
from runwright.loadgen import LoadSnapshot, run_load
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus
from runwright.steps.router_metrics import ERROR_RATIO
from runwright.steps.services import StepServices


def demo_runbook(router: str, listen: str, admin: str) -> dict[str, Any]:
    return {
        "name": "demo",
        "description": f"The runwright demo service, released blue-green behind {router}.",
        "vars": {"python": sys.executable, "error_rate": 0},
        "environments": {"local": {"description": "this machine"}},
        "service": {
            "command": "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}"
            " --error-rate {{ error_rate }}",
            "health": "/health",
            "start_timeout": "20s",
            "stop_timeout": "5s",
            "router": {"kind": router, "listen": listen, "admin": admin},
        },
        "release": {
            "strategy": "blue_green",
            "smoke": [
                {
                    "name": "smoke: home page answers",
                    "http": {
                        "url": "{{ new_url }}/",
                        "expect": {"status": 200, "body_contains": "{{ version }}"},
                    },
                },
                {
                    "name": "smoke: version endpoint",
                    "http": {
                        "url": "{{ new_url }}/version",
                        "expect": {"json": {"$.version": "{{ version }}"}},
                    },
                },
            ],
            "bake": "2s",
            "keep_previous": "1s",
        },
    }


def canary_runbook(router: str, listen: str, admin: str) -> dict[str, Any]:
    """The same service released as a canary, its failed requests tested against the stable
    version's as the router counts them (``method: sequential``: rolled back the moment the
    evidence is there), under an absolute limit on its error ratio besides."""
    book = demo_runbook(router, listen, admin)
    book["description"] = f"The runwright demo service, released as a canary behind {router}."
    book["checks"] = {
        "errors": {"provider": "router", "method": "sequential", "alpha": 0.01},
        "error-rate": {
            "provider": "router",
            "query": ERROR_RATIO,
            "fail_if": "> 5%",
            "interval": "1s",
            "failure_limit": 2,
            "no_data": "ignore",
        },
    }
    book["release"] = {
        "strategy": "canary",
        "weights": [20, 50, 100],
        "pause": "15s",
        "analysis": ["errors", "error-rate"],
        "smoke": [book["release"]["smoke"][1]],
        "bake": "2s",
        "keep_previous": "1s",
    }
    return book


@dataclass
class Release:
    version: str
    expect: RunStatus
    run: RunRow | None = None
    rollback_seconds: float | None = None
    restored_seconds: float | None = None
    """For the canary: from the first request it failed to its last answer of any kind."""
    failed_requests: int = 0
    answered: int = 0

    @property
    def as_expected(self) -> bool:
        return self.run is not None and self.run.status == self.expect


@dataclass
class DemoResult:
    state_dir: Path
    router: str
    url: str
    releases: list[Release] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    faulty: str = ""
    """The version that fails requests on purpose; its failures are the fault being caught."""
    faulty_failures: int = 0

    @property
    def unexpected_failures(self) -> int:
        """Failed user requests other than those the faulty canary answered with 5xx."""
        return self.failures - self.faulty_failures

    @property
    def ok(self) -> bool:
        return (
            all(r.as_expected for r in self.releases)
            and self.unexpected_failures == 0
            and self.requests > 0
        )


class _Load:
    """The load generator on its own thread and event loop, beside the deploys."""

    def __init__(self, url: str, on_snapshot: Callable[[LoadSnapshot], None]) -> None:
        self.url = url
        self.on_snapshot = on_snapshot
        self.last: LoadSnapshot | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[Any] | None = None
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="demo-load", daemon=True)
        self._ready = threading.Event()

    def _snap(self, snap: LoadSnapshot) -> None:
        self.last = snap
        self.on_snapshot(snap)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(
            run_load(
                self.url,
                connections=4,
                duration=3600,
                on_snapshot=self._snap,
                snapshot_interval=0.5,
                stop_event=self._stop,
            )
        )
        self._ready.set()
        try:
            self._loop.run_until_complete(self._task)
        finally:
            self._loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> LoadSnapshot | None:
        """End the load; the last snapshot then counts every request that was made."""
        if self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        return self.last


def _rollback_seconds(rt: Runtime, run: RunRow) -> float | None:
    events = rt.store.events(run.id)
    failed = next((e for e in events if e.type == EventType.STEP_FAILED), None)
    done = next((e for e in events if e.type == EventType.RUN_FINISHED), None)
    if failed is None or done is None:
        return None
    return (done.at - failed.at).total_seconds()


async def _teardown(services: StepServices) -> None:
    driver, router, spec = services.release()
    for inst in await driver.instances(spec.name):
        await driver.stop(inst, 5.0)
    stop = getattr(router, "stop", None)
    if stop is not None:
        await stop()


async def run_demo(
    base: Settings,
    *,
    router: str,
    observer: Observer,
    say: Callable[[str], None],
    on_traffic: Callable[[LoadSnapshot], None],
    keep_running: bool = False,
) -> DemoResult:
    state = base.state_dir / "demo"
    if state.exists():
        await _cleanup_previous(base, state)
        shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    listen = f"127.0.0.1:{free_port('127.0.0.1')}"
    admin = f"127.0.0.1:{free_port('127.0.0.1')}"
    path = state / "demo.yaml"
    path.write_text(yaml.safe_dump(demo_runbook(router, listen, admin), sort_keys=False))
    canary_path = state / "demo-canary.yaml"
    canary_path.write_text(yaml.safe_dump(canary_runbook(router, listen, admin), sort_keys=False))
    settings = Settings(
        state_dir=state,
        database_url=f"sqlite:///{state / 'runwright.db'}",
        user=base.user,
        environ=base.environ,
    )
    rt = Runtime.open(settings, observer=observer)
    result = DemoResult(state_dir=state, router=router, url=f"http://{listen}")
    load: _Load | None = None
    book = rt.load(path)
    try:
        say(f"1/4  deploy v1 behind the {router} router at http://{listen}")
        first = Release("v1", RunStatus.SUCCEEDED)
        first.run = await runs.deploy(rt, path, "local", "v1", runbook=book)
        result.releases.append(first)
        if not first.as_expected:
            return result
        load = _Load(result.url, on_traffic)
        load.start()
        say("     live traffic: 4 keep-alive connections through the router")
        say("2/4  release v2 blue-green under load")
        second = Release("v2", RunStatus.SUCCEEDED)
        second.run = await runs.deploy(rt, path, "local", "v2", runbook=book)
        result.releases.append(second)
        say("3/4  release v3, whose home page fails: its smoke test must stop it")
        third = Release("v3", RunStatus.ROLLED_BACK)
        third.run = await runs.deploy(
            rt, path, "local", "v3", runbook=book, overrides={"error_rate": "1.0"}
        )
        third.rollback_seconds = _rollback_seconds(rt, third.run)
        result.releases.append(third)
        say(
            "4/4  release v4 as a canary: its smoke test passes, but it fails 20% of user "
            "requests; analysis of the router's counters must roll it back"
        )
        fourth = Release("v4", RunStatus.ROLLED_BACK)
        result.faulty = "v4"
        fourth.run = await runs.deploy(
            rt,
            canary_path,
            "local",
            "v4",
            runbook=rt.load(canary_path),
            overrides={"error_rate": "0.2"},
        )
        fourth.rollback_seconds = _rollback_seconds(rt, fourth.run)
        result.releases.append(fourth)
    finally:
        if load is not None:
            snap = load.stop()
            if snap is not None:
                _tally(result, snap)
        if not keep_running:
            await _teardown(rt.step_services(book, "local"))
        rt.close()
    return result


def _tally(result: DemoResult, snap: LoadSnapshot) -> None:
    result.requests = snap.requests
    result.failures = snap.failures
    result.versions = dict(snap.versions)
    if not result.faulty:
        return
    result.faulty_failures = snap.failed_by_version.get(result.faulty, 0)
    for release in result.releases:
        if release.version != result.faulty:
            continue
        release.failed_requests = result.faulty_failures
        release.answered = snap.versions.get(release.version, 0)
        first = snap.first_failure.get(release.version)
        last = snap.last_answer.get(release.version)
        if first is not None and last is not None:
            release.restored_seconds = last - first


async def _cleanup_previous(base: Settings, state: Path) -> None:
    """Stop what an earlier demo left running (a --keep-running demo, or a crashed one)."""
    path = state / "demo.yaml"
    if not path.exists():
        return
    settings = Settings(
        state_dir=state,
        database_url=f"sqlite:///{state / 'runwright.db'}",
        user=base.user,
        environ=base.environ,
    )
    try:
        rt = Runtime.open(settings)
        book = rt.load(path)
        await _teardown(rt.step_services(book, "local"))
        rt.close()
    except Exception:  # noqa: BLE001 - best effort: a broken old demo must not block a new one
        return
