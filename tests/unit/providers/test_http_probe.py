"""Probing a URL: success as 1/0, latency in seconds, status code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.prometheus import LocalServer, free_port

from runwright.engine.clock import SystemClock
from runwright.errors import ProviderError
from runwright.providers.http import HttpProbeProvider, ProbeSettings


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        running.responder = lambda path, q: (
            (200, "text/plain", "ok\n") if path == "/health" else (503, "text/plain", "down\n")
        )
        yield running


async def measure(url: str, query: str, **settings: object) -> float | None:
    probe = HttpProbeProvider(ProbeSettings(url=url, **settings), SystemClock())  # type: ignore[arg-type]
    try:
        return (await probe.measure(query)).value
    finally:
        await probe.aclose()


async def test_success_is_one_for_a_good_answer_and_zero_otherwise(server: LocalServer) -> None:
    assert await measure(f"{server.url}/health", "success") == 1.0
    assert await measure(f"{server.url}/broken", "success") == 0.0
    assert await measure(f"{server.url}/broken", "success", expect_status=(503,)) == 1.0


async def test_unreachable_url_is_a_measured_failure_not_an_error() -> None:
    assert await measure(f"http://127.0.0.1:{free_port()}/", "success", timeout_seconds=1.0) == 0.0


async def test_latency_is_the_time_to_the_full_answer(server: LocalServer) -> None:
    server.delay = 0.15
    latency = await measure(f"{server.url}/health", "latency")
    assert latency is not None
    assert 0.15 <= latency < 2.0


async def test_latency_of_a_failing_url_is_an_error(server: LocalServer) -> None:
    with pytest.raises(ProviderError, match="answered HTTP 503, so its latency does not count"):
        await measure(f"{server.url}/broken", "latency")


async def test_status_and_the_recorded_query_name_method_and_url(server: LocalServer) -> None:
    probe = HttpProbeProvider(ProbeSettings(url=f"{server.url}/broken"), SystemClock())
    measured = await probe.measure("status")
    await probe.aclose()
    assert measured.value == 503.0
    assert measured.query == f"status of GET {server.url}/broken"
    assert measured.note.startswith("HTTP 503 in ")


async def test_unknown_query_is_refused(server: LocalServer) -> None:
    with pytest.raises(ProviderError, match="is not one of success, latency, status"):
        await measure(server.url, "p99")
