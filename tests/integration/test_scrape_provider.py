"""The scrape provider against a real /metrics server whose counters the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.prometheus import LocalServer, free_port

from runwright.engine.checks import CheckEvaluator, CheckSpec, Condition
from runwright.engine.clock import FakeClock
from runwright.errors import ProviderError
from runwright.model.status import Verdict
from runwright.providers.base import HttpSettings, Provider
from runwright.providers.scrape import ScrapeProvider

ERROR_RATIO = 'rate(demo_requests_total{status=~"5.."}) / rate(demo_requests_total)'
P95 = "histogram_quantile(0.95, demo_request_duration_seconds_bucket)"
BOUNDS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


class Demo:
    """Counters of a pretend service, rendered as its /metrics page."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.ok = 0
        self.errors = 0
        self.buckets = dict.fromkeys(BOUNDS, 0)
        self.render()

    def serve(self, ok: int = 0, errors: int = 0, latency: float = 0.07) -> None:
        self.ok += ok
        self.errors += errors
        for bound in BOUNDS:
            if latency <= float(bound):
                self.buckets[bound] += ok + errors
        self.render()

    def render(self) -> None:
        lines = [
            "# HELP demo_requests_total Requests served.",
            "# TYPE demo_requests_total counter",
            f'demo_requests_total{{method="GET",status="200"}} {self.ok}',
        ]
        if self.errors:
            lines.append(f'demo_requests_total{{method="GET",status="500"}} {self.errors}')
        lines.append("# TYPE demo_request_duration_seconds histogram")
        lines += [
            f'demo_request_duration_seconds_bucket{{le="{b}"}} {n}' for b, n in self.buckets.items()
        ]
        lines.append(f"demo_request_duration_seconds_count {self.buckets['+Inf']}")
        self.server.metrics = "\n".join(lines) + "\n"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def scrape(server: LocalServer, clock: FakeClock) -> AsyncIterator[ScrapeProvider]:
    provider = ScrapeProvider(HttpSettings(url=f"{server.url}/metrics", timeout_seconds=2), clock)
    yield provider
    await provider.aclose()


async def test_first_measurement_has_no_data_then_rates_follow_the_counters(
    server: LocalServer, clock: FakeClock, scrape: ScrapeProvider
) -> None:
    assert isinstance(scrape, Provider)
    demo = Demo(server)
    demo.serve(ok=500)
    first = await scrape.measure("rate(demo_requests_total)")
    assert first.value is None
    assert "first scrape" in first.note
    clock.advance(10)
    demo.serve(ok=190, errors=10)
    measured = await scrape.measure("rate(demo_requests_total)")
    assert measured.value == pytest.approx(20.0)
    assert measured.at == clock.now()
    assert {s.labels["status"] for s in measured.samples} == {"200", "500"}


async def test_error_ratio_and_p95_between_scrapes(
    server: LocalServer, clock: FakeClock, scrape: ScrapeProvider
) -> None:
    demo = Demo(server)
    demo.serve(ok=1000, latency=0.03)
    await scrape.measure(ERROR_RATIO)
    await scrape.measure(P95)
    clock.advance(15)
    demo.serve(ok=80, latency=0.03)
    demo.serve(ok=15, errors=5, latency=0.4)
    ratio = await scrape.measure(ERROR_RATIO)
    p95 = await scrape.measure(P95)
    assert ratio.value == pytest.approx(5 / 100)
    # 100 new observations: 80 <= 0.05s, 20 in (0.25, 0.5]; rank 95 sits 15/20 into that bucket.
    assert p95.value == pytest.approx(0.25 + 0.25 * 15 / 20)


async def test_each_query_keeps_its_own_previous_scrape(
    server: LocalServer, clock: FakeClock, scrape: ScrapeProvider
) -> None:
    demo = Demo(server)
    await scrape.measure("rate(demo_requests_total)")
    clock.advance(5)
    demo.serve(ok=50)
    await scrape.measure("increase(demo_requests_total)")
    clock.advance(5)
    demo.serve(ok=50)
    assert (await scrape.measure("rate(demo_requests_total)")).value == pytest.approx(10.0)
    assert (await scrape.measure("increase(demo_requests_total)")).value == pytest.approx(50.0)


async def test_a_bad_release_fails_its_check_from_scrapes_alone(
    server: LocalServer, clock: FakeClock, scrape: ScrapeProvider
) -> None:
    demo = Demo(server)
    spec = CheckSpec(
        "error-rate",
        Condition.parse("> 1%", mode="fail_if"),
        ERROR_RATIO,
        interval_seconds=10,
        for_seconds=20,
    )
    evaluator = CheckEvaluator(spec, clock.now())
    for errors in (0, 0, 30, 25, 40):
        demo.serve(ok=200, errors=errors)
        measured = await scrape.measure(spec.query)
        if measured.value is not None:
            evaluator.observe(measured.at, measured.value, query=measured.query)
        clock.advance(spec.interval_seconds)
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason == "error-rate was 0.1304, 0.1111, 0.1667 (> 0.01) for 20s"


async def test_unreachable_and_non_metrics_pages_are_clear_errors(
    server: LocalServer, clock: FakeClock
) -> None:
    gone = ScrapeProvider(HttpSettings(url=f"http://127.0.0.1:{free_port()}/metrics"), clock)
    with pytest.raises(ProviderError, match="cannot reach the metrics page"):
        await gone.measure("up")
    await gone.aclose()
    server.responder = lambda path, q: (200, "text/html", "<html><body>hi</body></html>\n")
    html = ScrapeProvider(HttpSettings(url=server.url), clock)
    with pytest.raises(ProviderError, match="not in the Prometheus text format: line 1"):
        await html.measure("up")
    server.responder = lambda path, q: (404, "text/plain", "no\n")
    with pytest.raises(ProviderError, match="answered HTTP 404"):
        await html.measure("up")
    await html.aclose()


async def test_a_bad_query_fails_before_any_request(
    server: LocalServer, scrape: ScrapeProvider
) -> None:
    with pytest.raises(ProviderError, match="function sum\\(\\) is not supported"):
        await scrape.measure("sum(rate(demo_requests_total))")
    assert server.requests == []
