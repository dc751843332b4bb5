"""A generic JSON webhook: signed with HMAC-SHA256 over a timestamp and the body, carrying
an idempotency key.

``X-Runwright-Timestamp: <unix seconds>`` says when the request was signed and
``X-Runwright-Signature: sha256=<hex>`` is HMAC-SHA256 with the shared secret of
``<timestamp>.<exact body>``. The receiver recomputes it, refuses a timestamp more than a few
minutes from its own clock (so a captured request cannot be replayed later), and drops a
repeated ``Idempotency-Key``. Retries (with backoff on the
injected clock) belong to the dispatcher, which knows the subscription's policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from runwright.notify.base import Delivered, Notice, check_status, http_failure

SIGNATURE_HEADER = "X-Runwright-Signature"
TIMESTAMP_HEADER = "X-Runwright-Timestamp"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def payload(notice: Notice) -> dict[str, object]:
    return {
        "event": notice.event,
        "title": notice.title,
        "text": notice.text,
        "run": {
            "id": notice.run_id,
            "runbook": notice.runbook,
            "environment": notice.environment,
            "version": notice.version,
            "status": notice.status,
            "url": notice.url,
        },
        "actor": notice.actor,
        "details": dict(notice.details),
        "idempotency_key": notice.key,
    }


@dataclass
class WebhookSink:
    url: str
    secret: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    now: Callable[[], float] = time.time
    """Unix time for the signature (receivers compare it with their own clocks)."""

    def __post_init__(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)

    async def send(self, notice: Notice) -> Delivered:
        body = json.dumps(payload(notice), sort_keys=True).encode()
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": notice.key,
        }
        if self.secret:
            stamp = int(self.now())
            headers[TIMESTAMP_HEADER] = str(stamp)
            headers[SIGNATURE_HEADER] = sign(self.secret, body, stamp)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise http_failure(f"webhook {self.url}", exc) from exc
        check_status(f"webhook {self.url}", response)
        return Delivered(detail=f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
