"""Failed logins are counted per client address: past ``limit`` in ``window`` seconds, that
address is refused (HTTP 429) until its oldest failure ages out, so tokens cannot be guessed
at speed. In memory, per server: a restart forgets, which costs an attacker nothing they
could not get by waiting."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

LIMIT = 10
WINDOW = 300.0


@dataclass
class LoginThrottle:
    limit: int = LIMIT
    window: float = WINDOW
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(address, deque())
        while times and (now - times[0]).total_seconds() >= self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def wait(self, address: str, now: datetime) -> float:
        """Seconds ``address`` must wait before it may try again (0: it may now)."""
        times = self._recent(address, now)
        if len(times) < self.limit:
            return 0.0
        return max(1.0, self.window - (now - times[0]).total_seconds())

    def failed(self, address: str, now: datetime) -> None:
        self._recent(address, now)
        self._failures.setdefault(address, deque()).append(now)
