"""The ``router`` provider: a version judged by the router's own per-backend counters."""

from __future__ import annotations

import pytest

from runwright.engine.clock import FakeClock
from runwright.errors import DriverError, ProviderError
from runwright.routers.base import BackendCounters
from runwright.routers.fake import FakeRouter
from runwright.steps.router_metrics import RouterProvider

RATIO = 'rate(router_errors_total{backend="v2"}) / rate(router_requests_total{backend="v2"})'


def served(router: FakeRouter, name: str, requests: int, e5xx: int = 0, failed: int = 0) -> None:
    router.served[name] = BackendCounters(
        name=name, requests=requests, errors_5xx=e5xx, failures=failed
    )


async def test_an_error_ratio_counts_5xx_and_unanswered_between_two_readings() -> None:
    clock, router = FakeClock(), FakeRouter()
    served(router, "v1", 1000, e5xx=3)
    served(router, "v2", 100, e5xx=1)
    provider = RouterProvider(router, clock)
    first = await provider.measure(RATIO)
    assert first.value is None
    clock.advance(1)
    served(router, "v1", 1900, e5xx=3)
    served(router, "v2", 300, e5xx=31, failed=9)
    second = await provider.measure(RATIO)
    assert second.value == pytest.approx(39 / 200)
    assert {s.describe() for s in second.samples} >= {
        'router_errors_total{backend="v2"}',
        'router_requests_total{backend="v2"}',
    }
    assert (await provider.measure('router_requests_total{backend="v1"}')).value == 1900


async def test_a_backend_without_traffic_is_no_data_not_a_pass() -> None:
    clock, router = FakeClock(), FakeRouter()
    served(router, "v1", 10)
    provider = RouterProvider(router, clock)
    await provider.measure(RATIO)
    clock.advance(1)
    served(router, "v1", 20)
    reading = await provider.measure(RATIO)
    assert reading.value is None


async def test_a_gauge_reads_the_latest_counters_and_a_typo_is_no_data() -> None:
    router = FakeRouter()
    served(router, "v2", 42, e5xx=2)
    provider = RouterProvider(router, FakeClock())
    assert (await provider.measure('router_responses_5xx_total{backend="v2"}')).value == 2
    assert (await provider.measure('router_reqests_total{backend="v2"}')).value is None


async def test_latency_quantiles_come_from_the_builtin_router_histogram() -> None:
    clock, router = FakeClock(), FakeRouter()
    buckets = ((0.01, 0), (0.1, 0), (1.0, 0), (float("inf"), 0))
    router.served["v2"] = BackendCounters(name="v2", latency_buckets=buckets)
    provider = RouterProvider(router, clock)
    query = 'histogram_quantile(0.5, router_request_duration_seconds_bucket{backend="v2"})'
    await provider.measure(query)
    clock.advance(1)
    later = ((0.01, 0), (0.1, 100), (1.0, 100), (float("inf"), 100))
    router.served["v2"] = BackendCounters(name="v2", requests=100, latency_buckets=later)
    value = (await provider.measure(query)).value
    assert value is not None
    assert 0.01 < value <= 0.1


async def test_an_unreadable_router_is_a_provider_error() -> None:
    class Broken(FakeRouter):
        async def counters(self) -> dict[str, BackendCounters]:
            raise DriverError("HAProxy's stats socket /x does not answer")

    with pytest.raises(ProviderError, match="stats socket"):
        await RouterProvider(Broken(), FakeClock()).measure(RATIO)
