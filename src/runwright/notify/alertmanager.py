"""Alertmanager silences held as a lease while a run is alive.

A release should not page the on-call who started it. The silence is created with a short
end (the lease), extended while the run is driven, and expired when the run ends; if
runwright dies, nobody extends it and it lapses by itself within one lease. Alertmanager's
v2 API: ``POST /api/v2/silences`` creates or (with ``id``) updates, answering
``{"silenceID": ...}``; ``DELETE /api/v2/silence/{id}`` expires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from runwright.notify.base import check_status, http_failure


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout)

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._client.request(method, f"{self.url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise http_failure(f"Alertmanager at {self.url}", exc) from exc
        check_status(f"Alertmanager at {self.url}", response)
        return response

    async def put_silence(
        self,
        *,
        matchers: Sequence[Matcher],
        starts: datetime,
        lease: float,
        created_by: str,
        comment: str,
        silence_id: str | None = None,
    ) -> str:
        """Create (or extend, given ``silence_id``) a silence ending ``lease`` from ``starts``;
        return its id, which Alertmanager may change when it replaces a silence."""
        body: dict[str, Any] = {
            "matchers": [m.wire() for m in matchers],
            "startsAt": _iso(starts),
            "endsAt": _iso(starts + timedelta(seconds=lease)),
            "createdBy": created_by,
            "comment": comment,
        }
        if silence_id:
            body["id"] = silence_id
        response = await self._call("POST", "/api/v2/silences", body)
        return str(response.json()["silenceID"])

    async def expire(self, silence_id: str) -> None:
        await self._call("DELETE", f"/api/v2/silence/{silence_id}")

    async def silence(self, silence_id: str) -> Mapping[str, Any]:
        response = await self._call("GET", f"/api/v2/silence/{silence_id}")
        data: Mapping[str, Any] = response.json()
        return data

    async def aclose(self) -> None:
        await self._client.aclose()
