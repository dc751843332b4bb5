"""Routers move traffic between versions of a service on one machine, make-before-break.

``make_router`` builds the one a runbook names: ``builtin`` (runwright's own proxy, the
default: nothing to install), ``haproxy`` (driven through its runtime API, never reloaded) or
``fake`` (in memory, for tests and the demo).
"""

from __future__ import annotations

from runwright.engine.clock import Clock
from runwright.errors import InputError
from runwright.routers.base import Backend, BackendCounters, Router, RouterSettings

__all__ = ["Backend", "BackendCounters", "Router", "RouterSettings", "make_router"]


def make_router(kind: str, settings: RouterSettings, clock: Clock | None = None) -> Router:
    if kind == "builtin":
        from runwright.routers.builtin import BuiltinRouter

        return BuiltinRouter(settings, clock)
    if kind == "haproxy":
        from runwright.routers.haproxy import HAProxyRouter

        return HAProxyRouter(settings, clock)
    if kind == "fake":
        from runwright.routers.fake import FakeRouter

        return FakeRouter() if clock is None else FakeRouter(clock=clock)
    raise InputError(f"unknown router {kind!r}", hint="use builtin, haproxy or fake")
