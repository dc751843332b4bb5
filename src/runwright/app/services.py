"""Build the driver and router a runbook's ``service`` section asks for, for the steps to use.

Each environment gets its own service name (``NAME-ENV``), so staging and production
versions never share pid files, and its own router state directory.
"""

from __future__ import annotations

from typing import Any

from runwright.app.release import service_name
from runwright.app.settings import Settings
from runwright.drivers.base import ServiceSpec
from runwright.drivers.local import LocalDriver, LocalSettings
from runwright.engine.clock import SystemClock
from runwright.model.loader import Runbook
from runwright.routers import make_router, settings_for
from runwright.routers.base import split_address


def admin_address(listen: str, admin: str | None) -> str:
    if admin:
        return admin
    host, port = split_address(listen)
    return f"{host}:{port + 1}"


def build_services(
    settings: Settings, runbook: Runbook, env_name: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    service = runbook.service
    assert service is not None
    name = service_name(runbook, env_name)
    spec = ServiceSpec(
        name=name,
        command=service.command,
        health=service.health,
        env=dict(service.env),
        cwd=service.cwd,
        start_timeout=service.start_timeout,
        stop_timeout=service.stop_timeout,
        variables={k: str(v) for k, v in (variables or {}).items()},
    )
    clock = SystemClock()
    driver: Any = None
    if service.driver == "fake":
        from runwright.drivers.fake import FakeDriver

        driver = FakeDriver(clock)
    router_settings = settings_for(
        service.router.kind,
        settings.state_dir / "routers" / name,
        service.router.listen,
        admin_address(service.router.listen, service.router.admin),
    )
    if driver is None:
        reserved = frozenset(split_address(a)[1] for a in router_settings.addresses())
        driver = LocalDriver(LocalSettings(state_dir=settings.state_dir, reserved_ports=reserved))
    router = make_router(service.router.kind, router_settings, clock)
    return {"driver": driver, "router": router, "service": spec}
