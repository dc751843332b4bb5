"""The OIDC logins one server has started and not yet finished, and its provider's discovery
document: state of that server, made with it and kept on its ``WebState``, never in module
globals, so two servers in one process (tests, an embedding) cannot finish each other's
logins or share a provider's document.

A pending login lives ``ttl`` seconds of the runtime's clock (the ``state`` cookie's
lifetime): one older is refused at the callback and dropped, so a test moves a FakeClock
past it instead of sleeping.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from runwright.app.people.users import AuthError
from runwright.engine.clock import Clock

PENDING_TTL = 600.0
DISCOVERY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Pending:
    """One started login: the PKCE verifier, the nonce, where to go after, when it began."""

    verifier: str
    nonce: str
    next: str
    created: float


class OidcFlows:
    """The server's pending OIDC logins (by their ``state``) and its issuer's discovery."""

    def __init__(self, issuer: str, clock: Clock, ttl: float = PENDING_TTL) -> None:
        self.issuer = issuer
        self.clock = clock
        self.ttl = ttl
        self._pending: dict[str, Pending] = {}
        self._discovery: dict[str, Any] | None = None
        self._lock = threading.Lock()  # handlers run on the server's worker threads

    def begin(self, next: str) -> tuple[str, Pending]:
        """A new login's ``state`` key and what the callback will need; expired ones go."""
        key, verifier, nonce = (secrets.token_urlsafe(32) for _ in range(3))
        now = self.clock.monotonic()
        with self._lock:
            for old in [k for k, p in self._pending.items() if self._expired(p, now)]:
                del self._pending[old]
            pending = self._pending[key] = Pending(verifier, nonce, next, now)
        return key, pending

    def finish(self, key: str) -> Pending | None:
        """The login ``key`` began, taken once; None if unknown, already taken or expired."""
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is None or self._expired(pending, self.clock.monotonic()):
            return None
        return pending

    def _expired(self, pending: Pending, now: float) -> bool:
        return now - pending.created > self.ttl

    def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document, read once (a failed read is tried again)."""
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                answer = httpx.get(url, timeout=DISCOVERY_TIMEOUT).raise_for_status()
                doc = answer.json()
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
            except (httpx.HTTPError, ValueError) as exc:
                raise AuthError(
                    f"cannot read the OIDC discovery document at {url}: {exc}"
                ) from None
            self._discovery = doc
        return self._discovery
