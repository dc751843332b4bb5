"""The Prometheus provider against a real Prometheus scraping a local /metrics server every 1s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from tests.support.prometheus import LocalServer, Prometheus, available, running_prometheus

from runwright.engine.clock import SystemClock
from runwright.errors import ProviderError
from runwright.providers.prometheus import PrometheusProvider, PrometheusSettings

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(not available(), reason="needs the prometheus binary (Debian: prometheus)"),
    pytest.mark.xdist_group("prometheus_provider"),  # one worker: one Prometheus
]


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    """Prometheus scraping a service that serves 100 requests/s, 2% of them errors."""
    started = time.monotonic()

    def metrics(path: str, query: dict[str, list[str]]) -> tuple[int, str, str]:
        served = int((time.monotonic() - started) * 100)
        body = (
            "# TYPE rw_test_requests_total counter\n"
            f'rw_test_requests_total{{status="200"}} {served - served // 50}\n'
            f'rw_test_requests_total{{status="500"}} {served // 50}\n'
            "# TYPE rw_test_inflight gauge\n"
            "rw_test_inflight 3\n"
        )
        return 200, "text/plain; version=0.0.4", body

    with LocalServer() as service:
        service.responder = metrics
        with running_prometheus([f"127.0.0.1:{service.port}"]) as running:
            yield running


@pytest.fixture
async def provider(prometheus: Prometheus) -> AsyncIterator[PrometheusProvider]:
    prom = PrometheusProvider(PrometheusSettings(prometheus.url, timeout_seconds=5), SystemClock())
    await _until(prom, "sum(rate(rw_test_requests_total[5s]))")
    yield prom
    await prom.aclose()


async def _until(prom: PrometheusProvider, query: str, within: float = 30.0) -> None:
    """Wait until Prometheus has scraped enough for ``query`` to have data."""
    deadline = time.monotonic() + within
    while (await prom.measure(query)).value is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus had no data for {query} within {within}s")
        await asyncio.sleep(0.25)


async def test_instant_query_reads_one_number(provider: PrometheusProvider) -> None:
    measured = await provider.measure('rw_test_inflight{job="test"}')
    assert measured.value == 3.0
    assert measured.query == 'rw_test_inflight{job="test"}'
    assert measured.samples[0].labels["job"] == "test"


async def test_error_ratio_through_promql(provider: PrometheusProvider) -> None:
    ratio = await provider.measure(
        'sum(rate(rw_test_requests_total{status=~"5.."}[5s]))'
        " / sum(rate(rw_test_requests_total[5s]))"
    )
    assert ratio.value == pytest.approx(0.02, abs=0.005)
    rate = await provider.measure("sum(irate(rw_test_requests_total[5s]))")
    assert rate.value == pytest.approx(100, rel=0.3)


async def test_several_series_are_refused_unless_aggregated(
    prometheus: Prometheus, provider: PrometheusProvider
) -> None:
    with pytest.raises(ProviderError, match="returned 2 series"):
        await provider.measure("rw_test_requests_total")
    summing = PrometheusProvider(PrometheusSettings(prometheus.url, aggregate="sum"), SystemClock())
    total = await summing.measure("rw_test_requests_total")
    await summing.aclose()
    assert total.value is not None
    assert total.value > 0


async def test_range_query_and_samples(provider: PrometheusProvider) -> None:
    clock = SystemClock()
    end = clock.now()
    series = await provider.query_range(
        "rw_test_inflight", start=end - timedelta(seconds=3), end=end, step_seconds=1
    )
    assert len(series) == 1
    assert series[0].labels["__name__"] == "rw_test_inflight"
    assert [v for _, v in series[0].points] == [3.0] * len(series[0].points)
    assert len(series[0].points) >= 2
    samples = await provider.samples("rw_test_inflight", window_seconds=3, step_seconds=1)
    assert samples
    assert set(samples) == {3.0}


async def test_unknown_metric_is_no_data(provider: PrometheusProvider) -> None:
    measured = await provider.measure("rw_test_missing_total")
    assert measured.value is None
    assert measured.note == "the query returned no series"


async def test_bad_query_carries_prometheus_message(provider: PrometheusProvider) -> None:
    with pytest.raises(
        ProviderError,
        match=r"Prometheus rejected query 'sum\(': bad_data: .*"
        r"parse error",
    ) as caught:
        await provider.measure("sum(")
    assert caught.value.retryable is False
