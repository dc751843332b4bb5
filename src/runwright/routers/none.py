"""The router of a service that takes no traffic (a worker): nothing to move, nothing counted.

A product's worker has no ``router:``; its release starts and stops versions but never sets
weights. Steps reach every service's collaborators the same way, so such a service gets this
router: starting it does nothing, and a traffic change is refused with a message that says
why rather than an attribute error.
"""

from __future__ import annotations

from collections.abc import Sequence

from runwright.errors import DriverError
from runwright.routers.base import Backend, BackendCounters


class NoRouter:
    def __init__(self, service: str) -> None:
        self.service = service

    async def ensure_started(self) -> None:
        return None

    async def apply(self, backends: Sequence[Backend]) -> None:
        raise DriverError(
            f"service {self.service} has no router: its traffic cannot be moved",
            retryable=False,
            hint="give the service a router: section, or release it with recreate",
        )

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def counters(self) -> dict[str, BackendCounters]:
        return {}
