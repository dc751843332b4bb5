"""Probe a URL as a signal: is it answering, and how fast, measured by runwright itself.

Some checks in hand-written runbooks are simply "the health endpoint answers" or "the login page
loads in under 2 s". This provider requests ``settings.url`` and the query chooses the number:

- ``success``: 1 when the answer came and its status is expected (2xx/3xx unless
  ``expect_status`` says otherwise), else 0. An unreachable URL is a measured 0, not an error:
  unreachability is exactly what this query watches.
- ``latency``: seconds until the full answer arrived. An unreachable URL or an unexpected
  status raises ProviderError, because there is no latency to judge.
- ``status``: the HTTP status code.

The recorded query names the method and URL, so a record reads "latency of GET http://...".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from runwright.engine.clock import Clock
from runwright.errors import ProviderError
from runwright.providers.base import HttpSettings, Measurement, make_client, transport_error

logger = logging.getLogger(__name__)

QUERIES = ("success", "latency", "status")


@dataclass(frozen=True)
class ProbeSettings:
    """The URL to probe and what counts as a good answer."""

    url: str
    method: str = "GET"
    timeout_seconds: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: tuple[int, ...] = ()
    verify: bool = True

    def expected(self, status: int) -> bool:
        return status in self.expect_status if self.expect_status else 200 <= status < 400


class HttpProbeProvider:
    """Measures ``success``, ``latency`` or ``status`` of one URL."""

    def __init__(
        self, settings: ProbeSettings, clock: Clock, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = client or make_client(
            HttpSettings(
                url=settings.url,
                timeout_seconds=settings.timeout_seconds,
                headers=settings.headers,
                verify=settings.verify,
            )
        )
        self._owns_client = client is None

    async def measure(self, query: str) -> Measurement:
        kind = query.strip().lower()
        if kind not in QUERIES:
            raise ProviderError(
                f"http probe query {query!r} is not one of {', '.join(QUERIES)}", retryable=False
            )
        sent = f"{kind} of {self.settings.method.upper()} {self.settings.url}"
        at = self._clock.now()
        started = self._clock.monotonic()
        try:
            response = await self._client.request(self.settings.method.upper(), self.settings.url)
        except httpx.HTTPError as exc:
            if kind == "success":
                return Measurement(query=sent, value=0.0, at=at, note=f"no answer: {exc!r}")
            raise transport_error(
                "the probed URL", self.settings.url, exc, self.settings.timeout_seconds
            ) from exc
        elapsed = self._clock.monotonic() - started
        good = self.settings.expected(response.status_code)
        note = f"HTTP {response.status_code} in {elapsed:.3f}s"
        if kind == "success":
            return Measurement(query=sent, value=1.0 if good else 0.0, at=at, note=note)
        if kind == "status":
            return Measurement(query=sent, value=float(response.status_code), at=at, note=note)
        if not good:
            raise ProviderError(
                f"{self.settings.url} answered HTTP {response.status_code}, so its latency "
                "does not count",
                hint="probe a URL that answers successfully, or watch 'success' instead",
            )
        return Measurement(query=sent, value=elapsed, at=at, note=note)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
