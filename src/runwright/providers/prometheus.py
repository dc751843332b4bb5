"""Read checks from a Prometheus server through its HTTP API, as teams' runbooks already do.

A check's query is PromQL, sent unchanged to ``/api/v1/query`` (one number now) or
``/api/v1/query_range`` (values over a window, for baseline comparison). The answer must be
one number: an instant vector with one series, or a scalar. An empty vector is *no data*
(the check's ``no_data`` policy decides, never a silent pass); NaN (a ratio over no traffic)
is no data too. Several series are an error unless ``PrometheusSettings.aggregate`` says how
to fold them, because picking one at random would judge the wrong thing.

Prometheus answers ``{"status": "error", "errorType": ..., "error": ...}`` for a query it
cannot run; that message is passed on in the ProviderError, marked not retryable when the
query itself is bad (``bad_data``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from runwright.engine.clock import Clock
from runwright.errors import ProviderError
from runwright.providers.base import (
    HttpSettings,
    Measurement,
    Sample,
    clean_value,
    make_client,
    transport_error,
)

logger = logging.getLogger(__name__)

Aggregate = Literal["sum", "avg", "min", "max"]
_NOT_RETRYABLE = {"bad_data", "not_found", "not_acceptable"}


@dataclass(frozen=True)
class PrometheusSettings:
    """Where Prometheus is (base URL, e.g. ``http://prometheus:9090``) and how to ask it.

    ``headers`` carries authentication such as ``{"Authorization": "Bearer ..."}``.
    ``aggregate`` folds a multi-series answer into one number; None makes it an error.
    """

    url: str
    timeout_seconds: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool = True
    aggregate: Aggregate | None = None

    def http(self) -> HttpSettings:
        return HttpSettings(
            url=self.url,
            timeout_seconds=self.timeout_seconds,
            headers=self.headers,
            verify=self.verify,
        )


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and ``(unix seconds, value)`` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class PrometheusProvider:
    """A ``SampleProvider`` backed by the Prometheus HTTP API."""

    def __init__(
        self, settings: PrometheusSettings, clock: Clock, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = client or make_client(settings.http())
        self._owns_client = client is None

    async def measure(self, query: str) -> Measurement:
        at = self._clock.now()
        data = await self._call("query", {"query": query}, query)
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return Measurement(
                query=query,
                value=clean_value(_number(result[1])),
                at=at,
                note=_nan_note(_number(result[1])),
            )
        if kind == "matrix":
            raise ProviderError(
                f"query {query!r} returns a range vector, not a number",
                retryable=False,
                hint="wrap the range selector in a function such as rate(...[5m])",
            )
        if kind != "vector" or not isinstance(result, list):
            raise ProviderError(f"query {query!r} returned a {kind}, not a number", retryable=False)
        samples = tuple(
            Sample(
                labels=dict(item.get("metric", {})),
                value=_number(item["value"][1]),
                timestamp=float(item["value"][0]),
            )
            for item in result
        )
        if not samples:
            return Measurement(query=query, value=None, at=at, note="the query returned no series")
        if len(samples) == 1:
            raw = samples[0].value
            return Measurement(
                query=query, value=clean_value(raw), at=at, samples=samples, note=_nan_note(raw)
            )
        if self.settings.aggregate is None:
            shown = ", ".join(s.describe() for s in samples[:3])
            more = f" and {len(samples) - 3} more" if len(samples) > 3 else ""
            raise ProviderError(
                f"query {query!r} returned {len(samples)} series ({shown}{more}), "
                "so it is not one number",
                retryable=False,
                hint="aggregate it in PromQL, e.g. sum(...) or max(...), or set aggregate",
            )
        value = _fold(self.settings.aggregate, [s.value for s in samples])
        return Measurement(
            query=query,
            value=value,
            at=at,
            samples=samples,
            note=f"{self.settings.aggregate} of {len(samples)} series",
        )

    async def query_range(
        self, query: str, *, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]:
        """Run a range query; each series with its points (NaN points dropped)."""
        if step_seconds <= 0:
            raise ProviderError("the step of a range query must be positive", retryable=False)
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step_seconds:g}",
        }
        data = await self._call("query_range", params, query)
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise ProviderError(f"range query {query!r} did not return a matrix", retryable=False)
        series: list[Series] = []
        for item in data["result"]:
            points = tuple(
                (float(t), v)
                for t, raw in item.get("values", [])
                if not math.isnan(v := _number(raw))
            )
            series.append(Series(labels=dict(item.get("metric", {})), points=points))
        return series

    async def samples(
        self, query: str, *, window_seconds: float, step_seconds: float | None = None
    ) -> list[float]:
        """Values of ``query`` over the last ``window_seconds``, oldest first."""
        end = self._clock.now()
        step = step_seconds or max(1.0, window_seconds / 60)
        series = await self.query_range(
            query, start=end - timedelta(seconds=window_seconds), end=end, step_seconds=step
        )
        if not series:
            return []
        if len(series) == 1:
            return [v for _, v in series[0].points]
        if self.settings.aggregate is None:
            raise ProviderError(
                f"range query {query!r} returned {len(series)} series, so it is not one number",
                retryable=False,
                hint="aggregate it in PromQL, e.g. sum(...), or set aggregate",
            )
        by_time: dict[float, list[float]] = {}
        for one in series:
            for t, v in one.points:
                by_time.setdefault(t, []).append(v)
        folded = (_fold(self.settings.aggregate, by_time[t]) for t in sorted(by_time))
        return [v for v in folded if v is not None]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _call(self, endpoint: str, params: Mapping[str, str], query: str) -> dict[str, Any]:
        url = f"{self.settings.url.rstrip('/')}/api/v1/{endpoint}"
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise transport_error(
                "Prometheus", self.settings.url, exc, self.settings.timeout_seconds
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(
                f"Prometheus at {self.settings.url} answered HTTP {response.status_code} "
                f"without an API answer: {response.text[:200]!r}",
                retryable=response.status_code >= 500,
                hint=_status_hint(response.status_code),
            )
        for warning in body.get("warnings") or []:
            logger.warning("Prometheus warned about %r: %s", query, warning)
        if body.get("status") != "success":
            kind = str(body.get("errorType") or f"HTTP {response.status_code}")
            message = str(body.get("error") or "no message")
            raise ProviderError(
                f"Prometheus rejected query {query!r}: {kind}: {message}",
                retryable=kind not in _NOT_RETRYABLE,
                hint=_status_hint(response.status_code),
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise ProviderError(f"Prometheus answered {query!r} without data")
        return data


def _number(raw: object) -> float:
    try:
        return float(str(raw))
    except ValueError:
        raise ProviderError(f"Prometheus returned {raw!r}, which is not a number") from None


def _nan_note(raw: float) -> str:
    return "the value is NaN (a ratio over no traffic?)" if math.isnan(raw) else ""


def _fold(how: Aggregate, values: list[float]) -> float | None:
    numbers = [v for v in values if not math.isnan(v)]
    if not numbers:
        return None
    if how == "sum":
        return math.fsum(numbers)
    if how == "avg":
        return math.fsum(numbers) / len(numbers)
    return max(numbers) if how == "max" else min(numbers)


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "Prometheus refused the credentials: check the auth header in the settings"
    if status == 404:
        return "the URL should be Prometheus's base URL, e.g. http://prometheus:9090"
    return None
