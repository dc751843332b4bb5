"""The HAProxy router as real processes: runtime-API traffic changes under load lose nothing."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.backend import Running, free_port, running

from runwright.errors import DriverError
from runwright.loadgen import run_load
from runwright.routers.base import Backend
from runwright.routers.haproxy import HAProxyRouter, HAProxySettings
from runwright.routers.process import alive

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(
        shutil.which("haproxy") is None,
        reason="haproxy is not installed (apt-get install -y haproxy)",
    ),
]


@pytest.fixture
def backends() -> Iterator[list[Running]]:
    with running("v1", "v2") as started:
        yield started


@pytest.fixture
def settings(tmp_path: Path) -> HAProxySettings:
    return HAProxySettings(state_dir=tmp_path, listen=f"127.0.0.1:{free_port()}", slots=4)


@pytest.fixture
async def router(settings: HAProxySettings) -> AsyncIterator[HAProxyRouter]:
    router = HAProxyRouter(settings)
    await router.ensure_started()
    pid = router.pid
    try:
        yield router
    finally:
        await router.stop()
        assert not alive(pid, str(router.config)), "HAProxy was left running"


def table(backends: list[Running], *weights: int) -> list[Backend]:
    return [Backend(b.name, "127.0.0.1", b.port, w) for b, w in zip(backends, weights, strict=True)]


def url(settings: HAProxySettings, path: str = "/") -> str:
    return f"http://{settings.listen}{path}"


async def test_weight_10_sends_a_tenth_of_requests(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 90, 10))
    result = await run_load(url(settings), connections=8, requests=10_000)
    assert result.failures == 0, result.errors
    share = result.versions.get("v2", 0) / result.requests
    assert 0.08 <= share <= 0.12, result.versions
    counters = await router.counters()
    assert counters["v2"].requests == result.versions["v2"]
    assert counters["v2"].weight == 10


async def test_traffic_flips_under_load_lose_no_request(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 100, 0))
    load = asyncio.create_task(run_load(url(settings), connections=16, duration=3.0))
    steps = [(0, 100), (10, 90), (50, 50), (100, 0), (0, 100), (75, 25), (100, 0)]
    for _ in range(3):
        for w1, w2 in steps:
            await router.apply(table(backends, w1, w2))
            await asyncio.sleep(0.04)
    result = await load
    assert result.failures == 0, result.errors
    assert result.versions.get("v1", 0) > 0
    assert result.versions.get("v2", 0) > 0


async def test_switch_then_stop_the_old_version_under_load(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 100, 0))
    load = asyncio.create_task(run_load(url(settings), connections=16, duration=1.5))
    await asyncio.sleep(0.4)
    await router.apply([table(backends, 0, 100)[1]])
    await router.drain("v1", timeout=5.0)
    backends[0].stop(signal.SIGTERM)
    result = await load
    assert result.failures == 0, result.errors
    assert result.versions.get("v2", 0) > 0
    slots = router.load_slots()
    assert [s.name for s in slots if s.name] == ["v2"], slots


async def test_a_backend_dying_under_load_costs_no_request(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 50, 50))
    load = asyncio.create_task(run_load(url(settings), connections=16, duration=1.5))
    await asyncio.sleep(0.5)
    backends[1].stop(signal.SIGKILL)
    result = await load
    assert result.failures == 0, result.errors


async def test_drain_waits_for_the_request_in_flight(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 100, 0))
    async with httpx.AsyncClient() as client:
        slow = asyncio.create_task(client.get(url(settings, "/?sleep=0.6")))
        await asyncio.sleep(0.2)
        await router.apply([table(backends, 0, 100)[1]])
        with pytest.raises(DriverError, match="still has 1 requests in flight"):
            await router.drain("v1", timeout=0.05)
        await router.drain("v1", timeout=5.0)
        answer = await slow
        assert answer.headers["x-version"] == "v1"
        assert (await client.get(url(settings))).headers["x-version"] == "v2"


async def test_a_version_not_listening_is_refused_before_traffic_moves(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 100, 0))
    with pytest.raises(DriverError, match="does not accept connections"):
        await router.apply([Backend("v3", "127.0.0.1", free_port(), 100)])
    async with httpx.AsyncClient() as client:
        assert (await client.get(url(settings))).headers["x-version"] == "v1"


async def test_attach_to_a_running_haproxy_and_restart_with_the_saved_table(
    router: HAProxyRouter, backends: list[Running], settings: HAProxySettings
) -> None:
    await router.apply(table(backends, 0, 100))
    again = HAProxyRouter(settings)
    await again.ensure_started()
    assert again.pid == router.pid
    await router.stop()
    await again.ensure_started()
    assert again.pid != 0
    router.pid = again.pid
    async with httpx.AsyncClient() as client:
        assert (await client.get(url(settings))).headers["x-version"] == "v2"
    assert "reload" not in again.config.read_text()


@pytest.fixture
def demo_pair() -> Iterator[dict[str, int]]:
    """v1 healthy and v2 failing 30% of requests: the demo service, real processes."""
    import subprocess
    import sys

    ports = {"v1": free_port(), "v2": free_port()}
    faults: dict[str, list[str]] = {"v1": [], "v2": ["--error-rate", "0.3"]}
    demos = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runwright.demo",
                "--port",
                str(port),
                "--version",
                name,
                *faults[name],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name, port in ports.items()
    ]
    try:
        yield ports
    finally:
        for demo in demos:
            demo.terminate()
            demo.wait(10)


async def test_a_sequential_check_reads_haproxys_counters_and_catches_a_failing_canary(
    router: HAProxyRouter, settings: HAProxySettings, demo_pair: dict[str, int]
) -> None:
    import time

    from runwright.engine.clock import SystemClock
    from runwright.engine.sequential import parse_sequential
    from runwright.model.checks import RouterCheck
    from runwright.model.status import Verdict
    from runwright.steps.sequential_watch import SequentialWatch, Sides

    await asyncio.sleep(1.5)
    await router.apply([Backend(n, "127.0.0.1", p, 50) for n, p in demo_pair.items()])
    spec = parse_sequential("errors", RouterCheck(provider="router", method="sequential"))
    watch = SequentialWatch(
        spec, Sides("v2", "v1"), split=1, router=router, clock=SystemClock(),
        measured=lambda rows: None,
    )  # fmt: skip
    load = asyncio.create_task(run_load(url(settings), connections=2, duration=15))
    began = time.monotonic()
    reason = await watch.run(began + 15)
    took = time.monotonic() - began
    load.cancel()
    await asyncio.gather(load, return_exceptions=True)
    assert watch.verdict is Verdict.FAILED, reason
    assert reason is not None
    assert "the canary v2 fails more often than the stable v1" in reason
    assert took < 10
