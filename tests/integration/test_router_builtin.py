"""The builtin router as real processes: the proxy daemon, backends, load while traffic moves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.backend import ROOT, Running, free_port, running

from runwright.errors import DriverError
from runwright.loadgen import run_load
from runwright.routers.base import Backend
from runwright.routers.builtin import MARKER, BuiltinRouter, BuiltinSettings
from runwright.routers.process import alive
from runwright.routers.state import read_state


@pytest.fixture
def backends() -> Iterator[list[Running]]:
    with running("v1", "v2") as started:
        yield started


@pytest.fixture
def settings(tmp_path: Path) -> BuiltinSettings:
    return BuiltinSettings(
        state_dir=tmp_path,
        listen=f"127.0.0.1:{free_port()}",
        admin=f"127.0.0.1:{free_port()}",
        stop_timeout=2.0,
    )


@pytest.fixture
async def router(settings: BuiltinSettings) -> AsyncIterator[BuiltinRouter]:
    router = BuiltinRouter(settings)
    await router.ensure_started()
    pid = router.pid
    try:
        yield router
    finally:
        await router.stop()
        assert not alive(pid, MARKER), "the proxy was left running"


def table(backends: list[Running], *weights: int) -> list[Backend]:
    return [Backend(b.name, "127.0.0.1", b.port, w) for b, w in zip(backends, weights, strict=True)]


def url(settings: BuiltinSettings, path: str = "/") -> str:
    return f"http://{settings.listen}{path}"


async def test_weight_10_sends_a_tenth_of_requests(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 90, 10))
    result = await run_load(url(settings), connections=8, requests=10_000)
    assert result.failures == 0, result.errors
    assert result.requests == 10_000
    share = result.versions.get("v2", 0) / result.requests
    assert 0.08 <= share <= 0.12, result.versions
    counters = await router.counters()
    assert counters["v2"].requests == result.versions["v2"]
    assert counters["v1"].errors_5xx == 0
    assert counters["v1"].latency_count == counters["v1"].requests


async def test_traffic_flips_under_load_lose_no_request(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
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


async def test_a_backend_dying_under_load_costs_no_request(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 50, 50))
    load = asyncio.create_task(run_load(url(settings), connections=16, duration=1.5))
    await asyncio.sleep(0.5)
    backends[1].stop(signal.SIGKILL)
    result = await load
    assert result.failures == 0, result.errors
    assert result.versions.get("v1", 0) > result.versions.get("v2", 0)


async def test_drain_waits_for_the_request_in_flight(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 100, 0))
    async with httpx.AsyncClient() as client:
        slow = asyncio.create_task(client.get(url(settings, "/?sleep=0.6")))
        await asyncio.sleep(0.2)
        await router.apply(table(backends, 0, 100))
        assert (await router.counters())["v1"].in_flight == 1
        with pytest.raises(DriverError, match="still has 1 requests in flight"):
            await router.drain("v1", timeout=0.05)
        await router.drain("v1", timeout=5.0)
        answer = await slow
        assert answer.status_code == 200
        assert answer.headers["x-version"] == "v1"
        after = await client.get(url(settings))
        assert after.headers["x-version"] == "v2"


async def test_metrics_page_counts_requests_per_backend(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 100, 0))
    async with httpx.AsyncClient() as client:
        for _ in range(5):
            assert (await client.get(url(settings))).status_code == 200
        auth = {"Authorization": f"Bearer {router.token}"}
        page = (await client.get(f"http://{settings.admin}/metrics", headers=auth)).text
    assert 'runwright_router_requests_total{backend="v1",code="200"} 5' in page
    assert 'runwright_router_request_duration_seconds_count{backend="v1"} 5' in page
    assert 'runwright_router_backend_weight{backend="v2"} 0' in page


async def test_no_backend_answers_503_not_a_hang(settings: BuiltinSettings) -> None:
    router = BuiltinRouter(settings)
    await router.ensure_started()
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(url(settings))
        assert answer.status_code == 503
    finally:
        await router.stop()


async def test_proxy_outlives_a_killed_runwright_and_is_attached_again(
    backends: list[Running], settings: BuiltinSettings
) -> None:
    script = (
        "import asyncio, os, signal, sys\n"
        "from pathlib import Path\n"
        "from runwright.routers.base import Backend\n"
        "from runwright.routers.builtin import BuiltinRouter, BuiltinSettings\n"
        "async def main():\n"
        f"    r = BuiltinRouter(BuiltinSettings(state_dir=Path({str(settings.state_dir)!r}),"
        f" listen={settings.listen!r}, admin={settings.admin!r}))\n"
        "    await r.ensure_started()\n"
        f"    await r.apply([Backend('v1', '127.0.0.1', {backends[0].port}, 100)])\n"
        "    print(r.pid, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    pid = int(out.split()[0])
    router = BuiltinRouter(settings)
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url(settings))).headers["x-version"] == "v1"
        await router.ensure_started()
        assert router.pid == pid
        os.kill(pid, signal.SIGKILL)
        await router.ensure_started()
        assert router.pid != pid
        assert [b.name for b in await router.backends()] == ["v1"]
        async with httpx.AsyncClient() as client:
            assert (await client.get(url(settings))).headers["x-version"] == "v1"
        state = json.loads((settings.state_dir / "router" / "builtin.json").read_text())
        assert state["pid"] == router.pid
    finally:
        await router.stop()
    assert not alive(read_state(router.state_file).pid, MARKER)


async def test_a_busy_listen_address_is_a_clear_error(settings: BuiltinSettings) -> None:
    host, port = settings.listen.split(":")
    with socket.socket() as s:
        s.bind((host, int(port)))
        s.listen()
        with pytest.raises(DriverError, match="cannot listen"):
            await BuiltinRouter(settings).ensure_started()


async def test_bodies_pass_and_an_oversized_head_is_refused(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 100, 0))
    async with httpx.AsyncClient() as client:
        posted = await client.post(url(settings), content=b"x" * 100_000)
        assert posted.status_code == 200
        assert posted.text == "v1\n"
        huge = await client.get(url(settings), headers={"X-Big": "a" * 70_000})
        assert huge.status_code == 431


async def test_a_counter_watch_is_told_of_a_request_as_it_is_counted(
    router: BuiltinRouter, backends: list[Running], settings: BuiltinSettings
) -> None:
    await router.apply(table(backends, 50, 50))
    watch = router.watch()
    try:
        generation, counters = await watch.next(-1, 0.0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        same, _ = await watch.next(generation, 0.3)  # nothing happens: it waits its bound
        assert same == generation
        assert loop.time() - began >= 0.25

        async def one_request() -> None:
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(trust_env=False) as client:
                await client.get(url(settings))

        sender = asyncio.create_task(one_request())
        began = loop.time()
        moved, after = await watch.next(generation, 10.0)
        took = loop.time() - began
        await sender
        assert moved != generation
        assert took < 2.0  # woken by the request, not by the 10 s bound
        total = sum(c.requests for c in after.values())
        assert total == sum(c.requests for c in counters.values()) + 1
    finally:
        await watch.aclose()


async def test_a_counter_watch_says_so_when_the_router_is_gone(
    router: BuiltinRouter, backends: list[Running]
) -> None:
    await router.apply(table(backends, 50, 50))
    watch = router.watch()
    try:
        generation, _ = await watch.next(-1, 0.0)
        assert generation >= 0
        await router.stop()
        with pytest.raises(DriverError, match="counters at .* could not be read"):
            await watch.next(generation, 0.2)
    finally:
        await watch.aclose()


async def test_a_router_whose_token_file_was_replaced_is_a_clear_error(
    router: BuiltinRouter, settings: BuiltinSettings
) -> None:
    assert router.token_file.stat().st_mode & 0o777 == 0o600
    router.token_file.write_text("not-the-token\n")
    with pytest.raises(DriverError, match="refused runwright's token") as caught:
        await BuiltinRouter(settings).ensure_started()
    assert "stop the router" in str(caught.value.hint)
