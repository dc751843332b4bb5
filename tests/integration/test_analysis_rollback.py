"""Metric analysis with real processes: a bad release is caught by its metrics and rolled back.

Two set-ups, both on 127.0.0.1 with the demo service:

- no Prometheus: a canary release whose check scrapes the new version's ``/metrics`` while a
  load generator sends traffic through the builtin router. v1 is released cleanly, v2 (20%
  of its requests fail) is rolled back, the router sends everything to v1 again, and the
  report says which check failed, with its values and threshold;
- a real Prometheus scraping a good and a bad instance: the same sustained-breach rule passes
  the good one and fails the bad one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import RunCli
from tests.support import prometheus as prom

from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import SystemClock
from runwright.engine.executor import Outcome, RunInfo
from runwright.engine.store import StepRow
from runwright.loadgen import run_load
from runwright.steps.analysis import run_analysis
from runwright.steps.services import StepContext, StepServices

SRC = str(Path(__file__).resolve().parents[2] / "src")
ERROR_RATIO = (
    'rate(demo_requests_total{path="/",status=~"5.."}) / rate(demo_requests_total{path="/"})'
)


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, int(port))) == 0


class Load:
    """Keep-alive load through ``address`` on its own thread, from when it starts listening."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-load", daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set() and not port_open(self.address):
            time.sleep(0.02)
        while not self.stopping.is_set():
            asyncio.run(run_load(f"http://{self.address}/", connections=2, duration=0.5))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)


def versions_served(address: str, requests: int = 40) -> dict[str, int]:
    seen: dict[str, int] = {}
    for _ in range(requests):
        with urllib.request.urlopen(f"http://{address}/", timeout=5) as answer:
            version = answer.headers.get("X-Version", "")
            seen[version] = seen.get(version, 0) + 1
    return seen


def canary_runbook(listen: str, admin: str) -> dict[str, Any]:
    return {
        "name": "shop",
        "vars": {"python": sys.executable, "error_rate": 0},
        "environments": {"local": {}},
        "service": {
            "command": "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}"
            " --error-rate {{ error_rate }}",
            "env": {"PYTHONPATH": SRC},
            "health": "/health",
            "start_timeout": "20s",
            "stop_timeout": "3s",
            "router": {"kind": "builtin", "listen": listen, "admin": admin},
        },
        "checks": {
            "error-rate": {
                "provider": "scrape",
                "url": "{{ new_url }}/metrics",
                "query": ERROR_RATIO,
                "fail_if": "> 5%",
                "interval": "0.5s",
                "initial_delay": "0.5s",
                "for": "1s",
            }
        },
        "release": {
            "strategy": "canary",
            "weights": [10, 50, 100],
            "pause": "2.5s",
            "analysis": ["error-rate"],
        },
    }


def sequential_canary(state_dir: Path, free_port: Any) -> tuple[str, Path, Settings]:
    """The canary runbook with a 20 s pause under a sequential check of the router's counts:
    its listen address, its file and the settings of a store in ``state_dir``."""
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    book_data = canary_runbook(listen, admin)
    book_data["checks"] = {"errors": {"provider": "router", "method": "sequential", "alpha": 0.01}}
    book_data["release"] = {**book_data["release"], "pause": "20s", "analysis": ["errors"]}
    path = state_dir / "shop.yaml"
    path.write_text(yaml.safe_dump(book_data, sort_keys=False))
    settings = Settings(
        state_dir=state_dir,
        database_url=f"sqlite:///{state_dir / 'runwright.db'}",
        user="alice",
        environ={"PATH": os.environ.get("PATH", "")},
    )
    return listen, path, settings


async def _teardown(services: StepServices) -> None:
    driver, router, spec = services.release()
    for inst in await driver.instances(spec.name):
        await driver.stop(inst, 3.0)
    await router.stop()


@pytest.mark.slow
def test_a_canary_failing_its_scraped_error_rate_is_rolled_back_and_the_report_says_why(
    state_dir: Path, run_cli: RunCli, free_port: Any
) -> None:
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    path = state_dir / "shop.yaml"
    path.write_text(yaml.safe_dump(canary_runbook(listen, admin), sort_keys=False))
    settings = Settings(
        state_dir=state_dir,
        database_url=f"sqlite:///{state_dir / 'runwright.db'}",
        user="alice",
        environ={"PATH": os.environ.get("PATH", "")},
    )
    rt = Runtime.open(settings)
    book = rt.load(path)
    try:
        with Load(listen):
            good = asyncio.run(runs.deploy(rt, path, "local", "v1", runbook=book))
            assert good.status == "succeeded", good.failure
            assert versions_served(listen) == {"v1": 40}
            bad = asyncio.run(
                runs.deploy(rt, path, "local", "v2", runbook=book, overrides={"error_rate": "0.2"})
            )
            assert bad.status == "rolled_back"
            assert versions_served(listen) == {"v1": 40}
            rows = rt.store.measurements(bad.id)
    finally:
        asyncio.run(_teardown(rt.step_services(book, "local")))
        rt.close()
    assert bad.failure is not None
    assert bad.failure.startswith("step 'pause at 10%' failed: error-rate was ")
    assert "(> 0.05) for 1s" in bad.failure
    judged = [r for r in rows if r["check"] == "error-rate" and r["value"] is not None]
    assert judged[-1]["verdict"] == "failed"
    assert judged[-1]["breached"]
    assert {r["step"] for r in rows} == {"pause at 10%"}
    report = run_cli("report", str(bad.id))
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "ROLLED BACK" in text
    assert "error-rate was " in text
    assert "(> 0.05) for 1s" in text
    assert "| error-rate |" in text
    assert "fail_if > 0.05" in text


@pytest.mark.slow
def test_a_canary_failing_a_sequential_check_is_rolled_back_at_once_with_the_evidence(
    state_dir: Path, run_cli: RunCli, free_port: Any
) -> None:
    listen, path, settings = sequential_canary(state_dir, free_port)
    rt = Runtime.open(settings)
    book = rt.load(path)
    try:
        with Load(listen):
            good = asyncio.run(runs.deploy(rt, path, "local", "v1", runbook=book))
            assert good.status == "succeeded", good.failure
            began = time.monotonic()
            bad = asyncio.run(
                runs.deploy(rt, path, "local", "v2", runbook=book, overrides={"error_rate": "0.2"})
            )
            took = time.monotonic() - began
            assert bad.status == "rolled_back"
            assert versions_served(listen) == {"v1": 40}
            rows = rt.store.measurements(bad.id)
            events = rt.store.events(bad.id)
    finally:
        asyncio.run(_teardown(rt.step_services(book, "local")))
        rt.close()
    assert took < 15  # the 20 s pause was cut short by the test's rejection
    # Traffic went back on v1 from the pause itself, before the failure was journaled.
    types = [e.type for e in events]
    assert types.index("traffic.restored") < types.index("step.failed")
    assert types.index("step.failed") < types.index("rollback.started")
    restored = next(e for e in events if e.type == "traffic.restored")
    assert restored.data["weights"] == {"v1": 100, "v2": 0}
    assert bad.failure is not None
    assert "the canary v2 fails more often than the stable v1" in bad.failure
    assert "requests; ratio" in bad.failure
    assert "alpha 0.01" in bad.failure
    judged = [r for r in rows if r["check"] == "errors"]
    assert judged[-1]["verdict"] == "failed"
    assert all(r["query"].startswith("sequential: v2 vs v1") for r in judged)
    report = run_cli("report", str(bad.id))
    assert report.returncode == 0, report.stderr
    assert "fails more often" in report.stdout


@pytest.mark.slow
def test_a_runwright_killed_as_a_pause_puts_traffic_back_rolls_back_on_resume(
    state_dir: Path, free_port: Any
) -> None:
    listen, path, settings = sequential_canary(state_dir, free_port)
    rt = Runtime.open(settings)
    book = rt.load(path)
    try:
        with Load(listen):
            good = asyncio.run(runs.deploy(rt, path, "local", "v1", runbook=book))
            assert good.status == "succeeded", good.failure
            # A child deploys v2 and dies at the note the pause writes before its router write.
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    child = Runtime.open(replace(settings, crash_at="noted:pause at 10%"))
                    asyncio.run(
                        runs.deploy(child, path, "local", "v2", overrides={"error_rate": "0.2"})
                    )
                finally:
                    os._exit(code)
            status = os.waitpid(pid, 0)[1]
            assert os.WIFSIGNALED(status), "the crash point was never reached"
            (run,) = [r for r in rt.store.runs() if r.version == "v2"]
            assert rt.store.run(run.id).status == "running"
            resumed = asyncio.run(runs.resume(rt, run.id))
            assert resumed.status == "rolled_back"
            assert versions_served(listen) == {"v1": 40}
    finally:
        asyncio.run(_teardown(rt.step_services(book, "local")))
        rt.close()
    assert resumed.failure is not None
    assert "a check failed before runwright stopped" in resumed.failure


# --- a real Prometheus -----------------------------------------------------------------------


class Demo:
    """One demo service process on a free port, with traffic from a thread."""

    def __init__(self, version: str, *extra: str) -> None:
        self.port = prom.free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runwright.demo",
                "--port",
                str(self.port),
                "--version",
                version,
                *extra,
            ],
            env={**os.environ, "PYTHONPATH": SRC},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.address = f"127.0.0.1:{self.port}"
        self.load = Load(self.address)

    def __enter__(self) -> Demo:
        self.load.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.load.__exit__()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def context(
    checks: Mapping[str, Any], variables: Mapping[str, Any], rows: list[Mapping[str, Any]]
) -> StepContext:
    spec = {"kind": "analysis", "params": {}, "checks": dict(checks)}
    return StepContext(
        run=RunInfo(1, "shop", "production", str(variables["version"]), "alice"),
        step=StepRow(
            1,
            "main",
            0,
            "canary",
            "analysis",
            "analysis",
            spec,
            "running",
            None,
            1,
            None,
            None,
            None,
            "",
            {},
        ),
        spec=spec,
        attempt=1,
        undo=False,
        clock=SystemClock(),
        variables=variables,
        output=lambda line: None,
        approvals=lambda gate: [],
        services=StepServices(),
        record=lambda type_, data: None,
        actor="alice",
        attest=lambda gate, item, note: None,
        measured=rows.extend,
    )


@pytest.fixture(scope="module")
def demos() -> Iterator[tuple[Demo, Demo]]:
    with Demo("v1") as good, Demo("v2", "--error-rate", "0.3") as bad:
        yield good, bad


@pytest.mark.prometheus
@pytest.mark.slow
def test_a_sustained_breach_rule_on_prometheus_fails_the_bad_release_and_passes_the_good(
    demos: tuple[Demo, Demo],
) -> None:
    if not prom.available():
        pytest.skip("the prometheus binary is not installed (Debian package prometheus)")
    good, bad = demos
    # "or vector(0)": a service with no 5xx yet has no such series, and that must read as 0.
    ratio = (
        '(sum(rate(demo_requests_total{instance="{{ target }}",path="/",status=~"5.."}[3s]))'
        " or vector(0))"
        ' / sum(rate(demo_requests_total{instance="{{ target }}",path="/"}[3s]))'
    )
    checks = {
        "error-rate": {
            "provider": "prometheus",
            "url": "{{ prometheus }}",
            "query": ratio,
            "fail_if": "> 5%",
            "interval": "1s",
            "for": "3s",
        }
    }
    with prom.running_prometheus([good.address, bad.address]) as server:
        _wait_for_series(server.url, ratio.replace("{{ target }}", bad.address))
        _wait_for_series(server.url, ratio.replace("{{ target }}", good.address))
        good_rows: list[Mapping[str, Any]] = []
        bad_rows: list[Mapping[str, Any]] = []

        async def both() -> tuple[Outcome, Outcome]:
            common = {"prometheus": server.url}
            good_ctx = context(
                checks, {**common, "version": "v1", "target": good.address}, good_rows
            )
            bad_ctx = context(checks, {**common, "version": "v2", "target": bad.address}, bad_rows)
            started = time.monotonic()
            results = await asyncio.gather(
                run_analysis(good_ctx, ["error-rate"], 6.0),
                _timed(run_analysis(bad_ctx, ["error-rate"], 6.0), started),
            )
            return results[0], results[1]

        passed, failed = asyncio.run(both())
    assert passed.status == "succeeded", passed.summary
    assert "error-rate met its condition (fail_if > 0.05)" in passed.summary
    assert failed.status == "failed"
    assert failed.summary.startswith("error-rate was ")
    assert failed.summary.endswith("(> 0.05) for 3s")
    assert failed.data["elapsed"] < 5.5
    assert {r["query"] for r in bad_rows} == {ratio.replace("{{ target }}", bad.address)}
    assert bad_rows[-1]["verdict"] == "failed"
    assert len(good_rows) >= 6


async def _timed(analysis: Any, started: float) -> Outcome:
    outcome: Outcome = await analysis
    return Outcome(
        outcome.status, outcome.summary, {**outcome.data, "elapsed": time.monotonic() - started}
    )


def _wait_for_series(url: str, query: str, timeout: float = 20.0) -> None:
    """Wait until Prometheus has scraped enough to answer ``query`` with a number."""
    import json
    from urllib.parse import quote

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={quote(query)}", timeout=2) as r:
            result = json.load(r)["data"]["result"]
        if result and result[0]["value"][1] != "NaN":
            return
        time.sleep(0.2)
    raise AssertionError(f"Prometheus had no data for {query} within {timeout}s")
