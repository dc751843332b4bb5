"""The load generator against real servers: counts that add up, bounds, failures, versions."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runwright.demo.service import Config, DemoServer
from runwright.errors import InputError
from runwright.loadgen import LoadResult, LoadSnapshot, percentile, run_load

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    server = DemoServer(Config(port=0, version="v1"))
    await server.start()
    yield server
    await server.stop()


async def test_request_bound_is_exact_and_every_count_adds_up(demo: DemoServer) -> None:
    result = await run_load(demo.url + "/", connections=8, requests=1500)
    assert result.requests == 1500
    assert result.failures == 0
    assert result.statuses == {200: 1500}
    assert result.versions == {"v1": 1500}
    assert result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]
    assert result.rate > 0


async def test_duration_bound_ends_the_run(demo: DemoServer) -> None:
    result = await run_load(demo.url + "/", connections=2, duration=0.3)
    assert 0.3 <= result.elapsed < 1.5
    assert result.requests > 50
    assert sum(result.versions.values()) == result.requests


async def test_5xx_answers_are_failures(demo: DemoServer) -> None:
    demo.app.faults.update({"error_rate": 1.0})
    result = await run_load(demo.url + "/", connections=2, requests=40)
    assert result.failures == 40
    assert result.errors == {"http 500": 40}
    assert result.versions == {"v1": 40}


async def test_refused_connections_are_failures_not_a_crash() -> None:
    server = DemoServer(Config(port=0))
    await server.start()
    url = server.url + "/"
    await server.stop()
    result = await run_load(url, connections=2, requests=10, request_timeout=1.0)
    assert result.requests == 10
    assert result.failures == 10
    assert result.errors == {"connect refused": 10}
    assert result.versions == {}


async def test_a_silent_server_is_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run_load(
            f"http://127.0.0.1:{port}/", connections=1, requests=2, request_timeout=0.2
        )
    assert result.failures == 2
    assert result.errors == {"timeout": 2}


async def test_counts_answers_per_version_and_retries_stale_keep_alive_connections() -> None:
    versions = itertools.cycle(["blue", "green", "green"])

    async def one_answer_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        version = next(versions).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Version: " + version + b"\r\n\r\nok"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(one_answer_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run_load(f"http://127.0.0.1:{port}/", connections=1, requests=30)
    assert result.failures == 0
    assert result.versions == {"blue": 10, "green": 20}
    assert result.stale_retries > 0


async def test_snapshots_report_progress(demo: DemoServer) -> None:
    seen: list[LoadSnapshot] = []
    await run_load(
        demo.url + "/", connections=2, duration=0.35, on_snapshot=seen.append, snapshot_interval=0.1
    )
    assert len(seen) >= 3
    assert [s.requests for s in seen] == sorted(s.requests for s in seen)
    assert seen[-1].versions.get("v1", 0) == seen[-1].requests


async def test_bad_arguments_are_input_errors() -> None:
    with pytest.raises(InputError, match="duration or a number of requests"):
        await run_load("http://127.0.0.1:1/")
    with pytest.raises(InputError, match="http:// URL"):
        await run_load("https://example.invalid/", requests=1)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.5) == 0.0


async def test_command_line_prints_a_json_result_from_a_second_process(demo: DemoServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runwright.loadgen",
        demo.url + "/",
        "--requests",
        "300",
        "--connections",
        "3",
        "--json",
        stdout=subprocess.PIPE,
        env={"PYTHONPATH": SRC},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    result = LoadResult.from_dict(json.loads(out))
    assert result.requests == 300
    assert result.versions == {"v1": 300}
    assert result.connections == 3
    assert result.to_dict()["statuses"] == {"200": 300}


async def test_a_stop_event_ends_the_load_and_the_last_snapshot_counts_every_request(
    demo: DemoServer,
) -> None:
    stop = asyncio.Event()
    snaps: list[LoadSnapshot] = []
    task = asyncio.create_task(
        run_load(demo.url + "/", connections=2, duration=30, on_snapshot=snaps.append,
                 stop_event=stop)
    )  # fmt: skip
    await asyncio.sleep(0.3)
    stop.set()
    result = await asyncio.wait_for(task, 5)
    assert result.elapsed < 5
    assert snaps[-1].requests == result.requests > 0


async def test_failures_are_told_per_version_with_when_they_began_and_ended(
    demo: DemoServer,
) -> None:
    snaps: list[LoadSnapshot] = []
    demo.app.faults.update({"error_rate": 0.5})
    result = await run_load(demo.url + "/", connections=2, requests=400, on_snapshot=snaps.append)
    last = snaps[-1]
    assert last.failed_by_version == {"v1": result.failures}
    assert 100 < result.failures < 300
    assert 0 <= last.first_failure["v1"] <= last.last_answer["v1"] <= result.elapsed
