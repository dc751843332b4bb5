"""Routers move traffic between versions of a service on one machine, make-before-break.

``make_router`` builds the one a runbook names: ``builtin`` (runwright's own proxy, the
default: nothing to install), ``haproxy`` (driven through its runtime API, never reloaded) or
``fake`` (in memory, for tests and the demo). Each kind has its own settings
(``BuiltinSettings``, ``HAProxySettings``, the common ``RouterSettings``); ``settings_for``
builds the right ones from a runbook's ``service.router``.
"""

from __future__ import annotations

from pathlib import Path

from runwright.engine.clock import Clock
from runwright.errors import InputError
from runwright.routers.base import Backend, BackendCounters, Router, RouterSettings
from runwright.routers.limits import ProxyLimits

__all__ = [
    "Backend",
    "BackendCounters",
    "Router",
    "RouterSettings",
    "make_router",
    "settings_for",
]

KINDS = ("builtin", "haproxy", "fake")


def settings_for(
    kind: str, state_dir: Path, listen: str, admin: str, limits: ProxyLimits | None = None
) -> RouterSettings:
    """The settings of a router of ``kind`` (``admin`` and ``limits`` are the builtin
    proxy's only)."""
    if kind == "builtin":
        from runwright.routers.builtin import BuiltinSettings

        return BuiltinSettings(
            state_dir=state_dir, listen=listen, admin=admin, limits=limits or ProxyLimits()
        )
    if kind == "haproxy":
        from runwright.routers.haproxy import HAProxySettings

        return HAProxySettings(state_dir=state_dir, listen=listen)
    if kind == "fake":
        return RouterSettings(state_dir=state_dir, listen=listen)
    raise InputError(f"unknown router {kind!r}", hint="use " + ", ".join(KINDS))


def make_router(kind: str, settings: RouterSettings, clock: Clock | None = None) -> Router:
    if kind == "builtin":
        from runwright.routers.builtin import BuiltinRouter, BuiltinSettings

        assert isinstance(settings, BuiltinSettings), "settings_for('builtin', ...) builds them"
        return BuiltinRouter(settings, clock)
    if kind == "haproxy":
        from runwright.routers.haproxy import HAProxyRouter, HAProxySettings

        assert isinstance(settings, HAProxySettings), "settings_for('haproxy', ...) builds them"
        return HAProxyRouter(settings, clock)
    if kind == "fake":
        from runwright.routers.fake import FakeRouter

        return FakeRouter() if clock is None else FakeRouter(clock=clock)
    raise InputError(f"unknown router {kind!r}", hint="use " + ", ".join(KINDS))
