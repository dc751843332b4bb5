"""How the Prometheus provider reads every shape of API answer, served by a local HTTP server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.prometheus import Answer, LocalServer, free_port

from runwright.engine.clock import FakeClock
from runwright.errors import ProviderError
from runwright.providers.base import SampleProvider
from runwright.providers.prometheus import PrometheusProvider, PrometheusSettings


def ok(result_type: str, result: object) -> Answer:
    body = {"status": "success", "data": {"resultType": result_type, "result": result}}
    return 200, "application/json", json.dumps(body)


def series(value: str, **labels: str) -> dict[str, object]:
    return {"metric": labels, "value": [1767607200.0, value]}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture
async def provider(server: LocalServer) -> AsyncIterator[PrometheusProvider]:
    settings = PrometheusSettings(
        url=server.url, timeout_seconds=2.0, headers={"Authorization": "Bearer s3cret"}
    )
    prom = PrometheusProvider(settings, FakeClock())
    yield prom
    await prom.aclose()


async def test_one_series_is_the_value_with_the_query_as_sent(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    server.responder = lambda path, q: ok("vector", [series("0.021", job="api")])
    query = 'sum(rate(http_requests_total{code=~"5.."}[1m]))'
    measured = await provider.measure(query)
    assert (measured.value, measured.query) == (0.021, query)
    assert measured.samples[0].labels == {"job": "api"}
    assert measured.at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert server.requests[0].startswith("/api/v1/query?query=sum%28rate")


async def test_empty_vector_is_no_data(server: LocalServer, provider: PrometheusProvider) -> None:
    server.responder = lambda path, q: ok("vector", [])
    measured = await provider.measure("up{job='gone'}")
    assert measured.value is None
    assert measured.note == "the query returned no series"


async def test_nan_is_no_data(server: LocalServer, provider: PrometheusProvider) -> None:
    server.responder = lambda path, q: ok("vector", [series("NaN")])
    measured = await provider.measure("errors / requests")
    assert measured.value is None
    assert "NaN" in measured.note


async def test_scalar_and_infinity(server: LocalServer, provider: PrometheusProvider) -> None:
    server.responder = lambda path, q: ok("scalar", [1767607200.0, "+Inf"])
    assert (await provider.measure("1/0")).value == float("inf")


async def test_several_series_are_an_error_naming_them(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    server.responder = lambda path, q: ok(
        "vector", [series("1", instance=f"10.0.0.{i}") for i in range(5)]
    )
    with pytest.raises(
        ProviderError,
        match=r"returned 5 series \(\{instance=\"10.0.0.0\"\}"
        r".* and 2 more\)",
    ) as caught:
        await provider.measure("up")
    assert caught.value.hint is not None
    assert "sum(" in caught.value.hint


async def test_several_series_fold_when_an_aggregation_is_asked(server: LocalServer) -> None:
    server.responder = lambda path, q: ok("vector", [series("1"), series("4"), series("NaN")])
    for how, expected in (("sum", 5.0), ("max", 4.0), ("min", 1.0), ("avg", 2.5)):
        prom = PrometheusProvider(PrometheusSettings(server.url, aggregate=how), FakeClock())  # type: ignore[arg-type]
        measured = await prom.measure("up")
        await prom.aclose()
        assert measured.value == expected
        assert measured.note == f"{how} of 3 series"


async def test_prometheus_error_message_is_passed_on(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    error = {
        "status": "error",
        "errorType": "bad_data",
        "error": 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
    }
    server.responder = lambda path, q: (400, "application/json", json.dumps(error))
    with pytest.raises(ProviderError) as caught:
        await provider.measure("sum(")
    assert str(caught.value.message) == (
        "Prometheus rejected query 'sum(': bad_data: invalid parameter \"query\": "
        "1:5: parse error: unclosed left parenthesis"
    )
    assert caught.value.retryable is False


async def test_timeout_error_from_prometheus_is_retryable(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    error = {"status": "error", "errorType": "timeout", "error": "query timed out"}
    server.responder = lambda path, q: (503, "application/json", json.dumps(error))
    with pytest.raises(ProviderError, match="timeout: query timed out") as caught:
        await provider.measure("up")
    assert caught.value.retryable is True


async def test_a_proxy_page_instead_of_json_is_reported(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    server.responder = lambda path, q: (401, "text/html", "<h1>Unauthorized</h1>")
    with pytest.raises(ProviderError, match="answered HTTP 401 without an API answer") as caught:
        await provider.measure("up")
    assert caught.value.hint is not None
    assert "credentials" in caught.value.hint


async def test_range_vector_instant_answer_is_refused(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    server.responder = lambda path, q: ok("matrix", [{"metric": {}, "values": []}])
    with pytest.raises(ProviderError, match="range vector"):
        await provider.measure("up[5m]")


async def test_unreachable_prometheus_is_a_clear_error() -> None:
    prom = PrometheusProvider(PrometheusSettings(f"http://127.0.0.1:{free_port()}"), FakeClock())
    with pytest.raises(ProviderError, match=r"cannot reach Prometheus at http://127.0.0.1:\d+"):
        await prom.measure("up")
    await prom.aclose()


async def test_slow_prometheus_times_out(server: LocalServer) -> None:
    server.delay = 0.5
    server.responder = lambda path, q: ok("vector", [])
    prom = PrometheusProvider(PrometheusSettings(server.url, timeout_seconds=0.1), FakeClock())
    with pytest.raises(ProviderError, match="did not answer within 0.1s"):
        await prom.measure("up")
    await prom.aclose()


async def test_auth_header_is_sent(server: LocalServer, provider: PrometheusProvider) -> None:
    server.responder = lambda path, q: ok("vector", [series("1")])
    await provider.measure("up")
    assert server.headers[0]["Authorization"] == "Bearer s3cret"


async def test_samples_come_from_a_range_query_over_the_window(
    server: LocalServer, provider: PrometheusProvider
) -> None:
    params: dict[str, list[str]] = {}

    def answer(path: str, query: dict[str, list[str]]) -> Answer:
        params.update(query, path=[path])
        values = [[1767607140 + 15 * i, v] for i, v in enumerate(["0.1", "NaN", "0.3", "0.2"])]
        return ok("matrix", [{"metric": {"job": "api"}, "values": values}])

    server.responder = answer
    assert isinstance(provider, SampleProvider)
    assert await provider.samples("latency", window_seconds=60, step_seconds=15) == [0.1, 0.3, 0.2]
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert params["path"] == ["/api/v1/query_range"]
    assert float(params["start"][0]) == (now - timedelta(seconds=60)).timestamp()
    assert float(params["end"][0]) == now.timestamp()
    assert params["step"] == ["15"]
