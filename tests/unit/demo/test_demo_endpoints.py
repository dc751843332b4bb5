"""The demo service as a client sees it: endpoints, version header, metrics, faults, HTTP/1.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from runwright.demo.service import Config, DemoServer
from runwright.loadgen import run_load
from runwright.providers.promtext import Exposition, parse


@pytest.fixture
async def server() -> AsyncIterator[DemoServer]:
    running = DemoServer(Config(port=0, version="v1.2.3", seed=7))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def client(server: DemoServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        yield http


async def metrics(client: httpx.AsyncClient) -> Exposition:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


def requests_total(page: Exposition, path: str, status: str) -> float:
    for sample in page.named("demo_requests_total"):
        if sample.labels == {"path": path, "status": status}:
            return sample.value
    return 0.0


async def test_root_says_hello_with_its_version(client: httpx.AsyncClient) -> None:
    answer = await client.get("/")
    assert answer.status_code == 200
    assert answer.text == "hello from v1.2.3\n"
    assert answer.headers["x-version"] == "v1.2.3"


async def test_every_answer_carries_the_version_header(client: httpx.AsyncClient) -> None:
    for path in ("/", "/health", "/version", "/metrics", "/admin/faults", "/nowhere"):
        answer = await client.get(path)
        assert answer.headers["x-version"] == "v1.2.3", path
    assert (await client.get("/nowhere")).status_code == 404


async def test_health_and_version_are_json(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": "v1.2.3"}
    version = (await client.get("/version")).json()
    assert version["version"] == "v1.2.3"
    assert version["pid"] > 0


async def test_metrics_count_requests_by_path_and_status(client: httpx.AsyncClient) -> None:
    before = await metrics(client)
    for _ in range(5):
        await client.get("/")
    await client.get("/missing")
    after = await metrics(client)
    assert requests_total(after, "/", "200") == requests_total(before, "/", "200") + 5
    assert requests_total(after, "other", "404") == requests_total(before, "other", "404") + 1
    assert after.types["demo_request_duration_seconds"] == "histogram"
    buckets = [
        s for s in after.named("demo_request_duration_seconds_bucket") if s.labels["path"] == "/"
    ]
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == 5
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)
    count = [
        s for s in after.named("demo_request_duration_seconds_count") if s.labels == {"path": "/"}
    ]
    assert count[0].value == 5
    info = after.named("demo_info")
    assert [(s.labels, s.value) for s in info] == [({"version": "v1.2.3"}, 1.0)]


async def test_error_rate_set_at_run_time_fails_that_share(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    answer = await client.post("/admin/faults", json={"error_rate": 0.2})
    assert answer.status_code == 200
    assert answer.json()["error_rate"] == 0.2
    result = await run_load(server.url + "/", connections=4, requests=2000)
    assert result.requests == 2000
    assert 0.17 * 2000 <= result.statuses[500] <= 0.23 * 2000
    assert result.statuses[500] + result.statuses[200] == 2000
    assert result.failures == result.statuses[500]
    page = await metrics(client)
    assert requests_total(page, "/", "500") == result.statuses[500]
    assert page.named("demo_fault_error_rate")[0].value == 0.2
    await client.post("/admin/faults", json={"error_rate": 0})
    assert (await client.get("/")).status_code == 200


async def test_faults_can_be_read_changed_and_are_validated(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/faults")).json() == {
        "error_rate": 0.0,
        "latency_ms": 0.0,
        "fail_health": False,
    }
    changed = await client.post("/admin/faults", json={"fail_health": True})
    assert changed.json()["fail_health"] is True
    health = await client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "failing"
    bad = await client.post("/admin/faults", json={"error_rate": 2})
    assert bad.status_code == 400
    assert "between 0 and 1" in bad.json()["error"]
    unknown = await client.post("/admin/faults", json={"errors": 1})
    assert unknown.status_code == 400
    assert "unknown fault 'errors'" in unknown.json()["error"]
    garbage = await client.post("/admin/faults", content=b"{not json")
    assert garbage.status_code == 400
    assert (await client.get("/admin/faults")).json()["error_rate"] == 0.0


async def test_latency_fault_delays_answers(client: httpx.AsyncClient) -> None:
    await client.post("/admin/faults", json={"latency_ms": 150})
    began = time.perf_counter()
    answer = await client.get("/")
    assert answer.status_code == 200
    assert time.perf_counter() - began >= 0.14
    began = time.perf_counter()
    await client.get("/health")
    assert time.perf_counter() - began < 0.1


async def test_faults_given_at_start_apply_from_the_first_request() -> None:
    server = DemoServer(Config(port=0, version="bad", error_rate=1.0, fail_health=True))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/")).status_code == 500
            assert (await http.get("/health")).status_code == 503
    finally:
        await server.stop()


async def exchange(server: DemoServer, raw: bytes, *, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(raw)
    try:
        if read_until_close:
            return await asyncio.wait_for(reader.read(), 5)
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    await client.post("/admin/faults", json={"latency_ms": 30})
    raw = (
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await exchange(server, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    first, second, third = (answer.index(m) for m in (b"hello", b'"pid"', b"Connection: close"))
    assert first < second < third


async def test_http_1_0_and_connection_close_end_the_connection(server: DemoServer) -> None:
    answer = await exchange(server, b"GET /health HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in answer


async def test_chunked_body_is_read(server: DemoServer, client: httpx.AsyncClient) -> None:
    body = b'{"latency_ms": 5}'
    raw = (
        b"POST /admin/faults HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )
    answer = await exchange(server, raw)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert (await client.get("/admin/faults")).json()["latency_ms"] == 5.0


async def test_malformed_request_gets_400_and_a_closed_connection(server: DemoServer) -> None:
    answer = await exchange(server, b"NONSENSE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")


async def test_head_has_headers_but_no_body(server: DemoServer) -> None:
    answer = await exchange(server, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Content-Length: 18\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")


async def test_stop_finishes_the_request_in_flight_and_refuses_new_ones() -> None:
    server = DemoServer(Config(port=0, version="v1", latency_ms=200))
    await server.start()
    async with httpx.AsyncClient(base_url=server.url) as http:
        in_flight = asyncio.create_task(http.get("/"))
        await asyncio.sleep(0.05)
        began = time.perf_counter()
        await server.stop()
        answer = await in_flight
        assert answer.status_code == 200
        assert answer.text == "hello from v1\n"
        assert time.perf_counter() - began < 1.0
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)
