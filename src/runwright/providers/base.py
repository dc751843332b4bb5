"""The contract every signal provider meets, so a check does not care where its numbers come from.

A check asks a provider for one number per interval: ``await provider.measure(query)``. The
answer is a ``Measurement``: the value (``None`` means *no data*, which a check never treats as
a pass), the query exactly as sent, when it was taken, and the raw series behind it so a
rollback can be explained. A provider that cannot answer (unreachable, bad query, a command
that crashed) raises ``ProviderError`` with a message a person can act on; ``retryable`` is
False when asking again cannot help (a query the backend rejects).

Providers that can look back in time (Prometheus) also implement ``SampleProvider.samples``
(a window in one range query). Baseline-versus-canary comparison does not need it: it measures
both versions with ``measure`` at the same instants, so it works with every provider.
Everything else the engine needs is here:

    Provider         measure(query) -> Measurement; aclose()
    SampleProvider   + samples(query, window_seconds=..., step_seconds=...) -> list[float]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from runwright.errors import ProviderError


@dataclass(frozen=True)
class Sample:
    """One raw series value behind a measurement: its labels, value and source timestamp."""

    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None

    def describe(self) -> str:
        name = self.labels.get("__name__", "")
        rest = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()) if k != "__name__")
        return f"{name}{{{rest}}}" if rest or not name else name


@dataclass(frozen=True)
class Measurement:
    """One reading of a query. ``value`` is None when there was no data; ``note`` says why."""

    query: str
    value: float | None
    at: datetime
    samples: tuple[Sample, ...] = ()
    note: str = ""

    @property
    def has_data(self) -> bool:
        return self.value is not None


@runtime_checkable
class Provider(Protocol):
    async def measure(self, query: str) -> Measurement:
        """Read ``query`` now; raise ProviderError when it cannot be read."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...


@runtime_checkable
class SampleProvider(Provider, Protocol):
    async def samples(
        self, query: str, *, window_seconds: float, step_seconds: float | None = None
    ) -> list[float]:
        """Values of ``query`` over the last ``window_seconds`` (for baseline comparison)."""
        ...


@dataclass(frozen=True)
class HttpSettings:
    """What every HTTP-speaking provider needs: where, how long to wait, which headers.

    ``headers`` carries authentication (``{"Authorization": "Bearer ..."}``); it is never
    logged. ``verify`` turns TLS verification off only for test set-ups.
    """

    url: str
    timeout_seconds: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool = True


def clean_value(value: float) -> float | None:
    """NaN (for example 0/0: a ratio with no traffic) is no data, not a number to compare."""
    return None if math.isnan(value) else value


def make_client(settings: HttpSettings) -> httpx.AsyncClient:
    """An HTTP client configured from ``settings`` (timeout, headers, TLS verification)."""
    return httpx.AsyncClient(
        timeout=settings.timeout_seconds,
        headers=dict(settings.headers),
        verify=settings.verify,
        follow_redirects=True,
    )


def transport_error(what: str, url: str, exc: httpx.HTTPError, timeout: float) -> ProviderError:
    """Turn an httpx failure into a ProviderError that says what could not be reached and why."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            f"{what} at {url} did not answer within {timeout:g}s",
            hint="check that it is up and not overloaded, or raise the timeout",
        )
    reason = str(exc) or type(exc).__name__
    return ProviderError(
        f"cannot reach {what} at {url}: {reason}",
        hint="check the URL and that the service is running",
    )
