"""Every deadline is the runtime's clock: under a FakeClock, a release whose command driver,
command provider or preflight check hangs on a real process or socket times out at once in
wall time, with the message naming the limit it hit (a half-hour limit is not waited for)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runwright.app.runs import runs
from runwright.app.runtime.identity import AuthMethod
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import FakeClock
from runwright.engine.store import RunRow
from runwright.model.status import RunStatus

WALL = 5.0
"""Wall seconds each release may take (a store, processes to spawn and kill): far below its
limits of a minute to half an hour."""


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    clock = FakeClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    settings = Settings.from_environ(
        {"PATH": "/usr/bin:/bin"}, state_dir=str(tmp_path / "state"), user="alice"
    )
    runtime = Runtime.open(replace(settings, via=AuthMethod.LOGIN), clock=clock)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def silent_port(free_port: Callable[[], int]) -> Iterator[int]:
    """A TCP port that accepts connections (in the kernel's backlog) and never says a word."""
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen(8)
        yield port


def release(rt: Runtime, tmp_path: Path, text: str) -> tuple[RunRow, float]:
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    began = time.monotonic()
    run = asyncio.run(runs.deploy(rt, path, "local", "v1"))
    return run, time.monotonic() - began


def failures(rt: Runtime, run: RunRow) -> str:
    return "\n".join(
        f"{s.summary or ''}\n{s.output}" for s in rt.store.steps(run.id) if s.summary or s.output
    )


def test_a_hung_preflight_check_times_out_on_the_fake_clock(
    rt: Runtime, tmp_path: Path, silent_port: int
) -> None:
    run, took = release(
        rt,
        tmp_path,
        f"""
name: shop
environments: {{local: {{}}}}
phases:
  - name: ground
    steps:
      - name: certificate
        preflight:
          - tls: "127.0.0.1:{silent_port}"
""",
    )
    assert run.status in (RunStatus.FAILED, RunStatus.ROLLED_BACK)
    assert f"127.0.0.1:{silent_port} did not complete a TLS handshake within 10s" in failures(
        rt, run
    )
    assert took < WALL


def test_a_hung_command_provider_times_out_on_the_fake_clock(rt: Runtime, tmp_path: Path) -> None:
    run, took = release(
        rt,
        tmp_path,
        """
name: shop
environments: {local: {}}
checks:
  queue-depth:
    provider: command
    query: sleep 3600
    timeout: 1m
    fail_if: "> 100"
    interval: 2m
phases:
  - name: watch
    steps:
      - name: queue
        analysis: {checks: [queue-depth], duration: 2m}
""",
    )
    # no measurement with data: the analysis pauses for a person, naming why
    assert run.status == RunStatus.AWAITING_DECISION, failures(rt, run)
    notes = " ".join(str(m["detail"]) for m in rt.store.measurements(run.id))
    assert "did not finish within 60s and was killed" in notes + failures(rt, run)
    assert took < WALL


def test_a_hung_command_driver_times_out_on_the_fake_clock(rt: Runtime, tmp_path: Path) -> None:
    run, took = release(
        rt,
        tmp_path,
        """
name: shop
environments: {local: {}}
service:
  health: /health
  driver:
    kind: command
    start: sleep 3600
    stop: "true"
    list: "true"
    timeout: 30m
  router:
    kind: command
    route: cat > /dev/null
release:
  strategy: blue_green
""",
    )
    assert run.status in (RunStatus.FAILED, RunStatus.ROLLED_BACK), failures(rt, run)
    assert "'sleep 3600' did not finish within 1800s" in (run.failure or "") + failures(rt, run)
    assert took < WALL
