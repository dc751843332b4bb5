"""The ``router`` provider: judge a version by what the router saw users get from it.

The router is the one component that sees every user request and knows which version
answered it, whichever router runs (builtin or HAProxy), so a check can judge a canary with
no Prometheus and no ``/metrics`` on the service. Each measurement reads the router's
per-backend counters and presents them as a metrics page, queried with the scrape subset of
PromQL (rates between two readings, ratios, quantiles)::

    router_requests_total{backend="v2"}         requests the backend answered or failed
    router_errors_total{backend="v2"}           5xx answers plus requests left unanswered
    router_responses_5xx_total{backend="v2"}    5xx answers
    router_failures_total{backend="v2"}         requests the router could not complete
    router_request_duration_seconds_bucket{backend="v2",le="0.1"}   (builtin router only)

Backends are named after versions, so a canary's error ratio is::

    rate(router_errors_total{backend="{{ version }}"})
      / rate(router_requests_total{backend="{{ version }}"})

It lives with the steps because it needs the run's router, which providers do not know.
"""

from __future__ import annotations

from runwright.engine.clock import Clock
from runwright.errors import DriverError, ProviderError
from runwright.providers import promtext
from runwright.providers.scrape import PageProvider
from runwright.routers.base import BackendCounters, Router

ERROR_RATIO = (
    'rate(router_errors_total{backend="{{ version }}"})'
    ' / rate(router_requests_total{backend="{{ version }}"})'
)
"""The share of a version's requests that failed (5xx or unanswered) since the last reading."""

METRICS = (
    "router_requests_total",
    "router_errors_total",
    "router_responses_5xx_total",
    "router_failures_total",
    "router_request_duration_seconds_bucket",
)


def exposition(counters: dict[str, BackendCounters]) -> promtext.Exposition:
    """The counters as a metrics page (one series per backend and metric)."""
    samples: list[promtext.TextSample] = []
    for name, c in sorted(counters.items()):
        labels = {"backend": name}
        samples += [
            promtext.TextSample("router_requests_total", labels, float(c.requests)),
            promtext.TextSample("router_errors_total", labels, float(c.errors_5xx + c.failures)),
            promtext.TextSample("router_responses_5xx_total", labels, float(c.errors_5xx)),
            promtext.TextSample("router_failures_total", labels, float(c.failures)),
        ]
        for bound, count in c.latency_buckets:
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            samples.append(
                promtext.TextSample(
                    "router_request_duration_seconds_bucket", {**labels, "le": le}, float(count)
                )
            )
    types = {m: "counter" for m in METRICS[:4]} | {METRICS[4]: "histogram"}
    return promtext.Exposition(samples=tuple(samples), types=types)


class RouterProvider(PageProvider):
    """Scrape queries over the counters of the run's router."""

    def __init__(self, router: Router, clock: Clock) -> None:
        super().__init__(clock)
        self.router = router

    async def fetch(self) -> promtext.Exposition:
        try:
            counters = await self.router.counters()
        except DriverError as exc:
            raise ProviderError(f"the router's counters could not be read: {exc}") from exc
        page = exposition(counters)
        if not page.samples:
            # Known names with no series: a rate over them is 0, a ratio over them no data.
            return promtext.Exposition(
                samples=(promtext.TextSample("router_requests_total", {"backend": ""}, 0.0),),
                types=page.types,
            )
        return page
