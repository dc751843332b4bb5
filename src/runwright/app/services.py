"""Build the driver and router a runbook's ``service`` section asks for, for the steps to use.

Each environment gets its own service name (``NAME-ENV``), so staging and production
versions never share pid files, Deployments or router state. Settings are resolved here, at
the edge of the run: paths relative to the runbook's directory, the kubeconfig from the
runbook, else ``KUBECONFIG``/``~/.kube/config`` of the environment runwright started in, else
the pod's service account. ``verify_services`` checks driver and router settings against the
world (read-only) before a run or a plan, turning a ``SettingError`` into ``file:line:col``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runwright.app.release import service_name
from runwright.app.settings import Settings
from runwright.drivers.base import Driver, ServiceSpec, Verified
from runwright.engine.clock import SystemClock
from runwright.errors import RunbookError, SettingError
from runwright.kube.client import Kube
from runwright.model.loader import Runbook
from runwright.model.release import (
    CommandDriverSpec,
    CommandRouterSpec,
    GatewayApiRouterSpec,
    IngressNginxRouterSpec,
    KubernetesDriverSpec,
    LocalRouterSpec,
    ServiceSelectorRouterSpec,
)
from runwright.model.source import parse_yaml
from runwright.routers import make_router, settings_for
from runwright.routers.base import Router, split_address
from runwright.steps.services import Release, StepServices


def admin_address(listen: str, admin: str | None) -> str:
    if admin:
        return admin
    host, port = split_address(listen)
    return f"{host}:{port + 1}"


def _base_dir(runbook: Runbook) -> Path:
    return Path(runbook.file).resolve().parent if runbook.file != "<memory>" else Path.cwd()


def _kubeconfig(settings: Settings, runbook: Runbook, given: str | None) -> Path | None:
    if given:
        path = Path(given).expanduser()
        return path if path.is_absolute() else _base_dir(runbook) / path
    env = settings.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(":")[0]).expanduser()
    home = settings.environ.get("HOME")
    if home and (Path(home) / ".kube" / "config").is_file():
        return Path(home) / ".kube" / "config"
    return None


def build_services(
    settings: Settings, runbook: Runbook, env_name: str, variables: dict[str, Any] | None = None
) -> Release:
    service = runbook.service
    assert service is not None
    name = service_name(runbook, env_name)
    plain = {k: str(v) for k, v in (variables or {}).items()}
    spec = ServiceSpec(
        name=name,
        command=service.command,
        health=service.health,
        env=dict(service.env),
        cwd=service.cwd,
        start_timeout=service.start_timeout,
        stop_timeout=service.stop_timeout,
        variables=plain,
    )
    clock = SystemClock()
    if isinstance(service.driver, KubernetesDriverSpec):
        return _kubernetes_release(settings, runbook, service.driver, name, plain, spec, clock)
    router, reserved = _host_router(settings, runbook, name, plain, clock)
    driver = _host_driver(settings, runbook, name, plain, clock, reserved)
    return Release(driver, router, spec)


def _kubernetes_release(
    settings: Settings,
    runbook: Runbook,
    driver_spec: KubernetesDriverSpec,
    name: str,
    plain: dict[str, str],
    spec: ServiceSpec,
    clock: SystemClock,
) -> Release:
    from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
    from runwright.kube.client import KubeSettings

    assert runbook.service is not None
    kube = Kube(
        KubeSettings(
            kubeconfig=_kubeconfig(settings, runbook, driver_spec.kubeconfig),
            context=driver_spec.context,
            namespace=driver_spec.namespace,
        )
    )
    template = driver_spec.template
    kdriver = KubernetesDriver(
        kube,
        KubernetesSettings(
            image=driver_spec.image,
            service=name,
            template_file=(_base_dir(runbook) / template) if template else None,
            template_deployment=driver_spec.template_deployment,
            container=driver_spec.container,
            port=driver_spec.port,
            retain=driver_spec.retain,
            version_label=driver_spec.version_label,
            poll_interval=driver_spec.poll_interval,
            log_lines=driver_spec.log_lines,
            variables=plain,
        ),
        clock,
    )
    routes = _kube_router(kube, runbook.service.router, name, driver_spec.version_label)
    return Release(kdriver, routes, spec)


def _host_driver(
    settings: Settings,
    runbook: Runbook,
    name: str,
    plain: dict[str, str],
    clock: SystemClock,
    reserved: frozenset[int],
) -> Driver:
    """The command, fake or local driver (the local one never hands out the router's ports)."""
    service = runbook.service
    assert service is not None
    driver_spec = service.driver
    if isinstance(driver_spec, CommandDriverSpec):
        from runwright.drivers.command import CommandDriver, CommandSettings

        return CommandDriver(
            CommandSettings(
                start=driver_spec.start,
                stop=driver_spec.stop,
                list=driver_spec.list,
                health=driver_spec.health,
                timeout=driver_spec.timeout,
                cwd=service.cwd or str(_base_dir(runbook)),
                env=dict(service.env),
                variables={**plain, "service": name},
            ),
            clock,
        )
    if driver_spec.kind == "fake":
        from runwright.drivers.fake import FakeDriver

        return FakeDriver(clock)
    from runwright.drivers.local import LocalDriver, LocalSettings

    return LocalDriver(LocalSettings(state_dir=settings.state_dir, reserved_ports=reserved))


def _host_router(
    settings: Settings, runbook: Runbook, name: str, plain: dict[str, str], clock: SystemClock
) -> tuple[Router, frozenset[int]]:
    """The command router, or a local one (builtin, haproxy, fake) and the ports it binds."""
    service = runbook.service
    assert service is not None
    router_spec = service.router
    if isinstance(router_spec, CommandRouterSpec):
        from runwright.routers.command import CommandRouter, CommandRouterSettings

        router = CommandRouter(
            CommandRouterSettings(
                route=router_spec.route,
                timeout=router_spec.timeout,
                cwd=service.cwd or str(_base_dir(runbook)),
                env=dict(service.env),
                variables={**plain, "service": name},
            )
        )
        return router, frozenset()
    assert isinstance(router_spec, LocalRouterSpec)
    router_settings = settings_for(
        router_spec.kind,
        settings.state_dir / "routers" / name,
        router_spec.listen,
        admin_address(router_spec.listen, router_spec.admin),
    )
    local = make_router(router_spec.kind, router_settings, clock)
    return local, frozenset(split_address(a)[1] for a in router_settings.addresses())


def _kube_router(kube: Kube, spec: Any, owner: str, version_label: str) -> Router:
    if isinstance(spec, ServiceSelectorRouterSpec):
        from runwright.routers.service_selector import ServiceSelectorRouter

        return ServiceSelectorRouter(kube, spec.service, owner, version_label)
    if isinstance(spec, IngressNginxRouterSpec):
        from runwright.routers.ingress_nginx import IngressNginxRouter

        return IngressNginxRouter(kube, spec.ingress, spec.canary_ingress, owner)
    assert isinstance(spec, GatewayApiRouterSpec)
    from runwright.routers.gateway_api import GatewayApiRouter

    return GatewayApiRouter(kube, spec.route, owner)


async def verify_services(runbook: Runbook, services: StepServices) -> None:
    """Check the driver's and router's settings against the world, read-only; a setting that
    cannot work is an InputError at its ``file:line:col`` in the runbook."""
    parts: tuple[object, ...] = (services.driver, services.router)
    targets = [s for s in parts if isinstance(s, Verified)]
    if not targets:
        return

    try:
        for target in targets:
            await target.verify()
    except SettingError as exc:
        raise _located(runbook, exc) from None
    finally:
        kube = getattr(services.driver, "kube", None)
        if kube is not None:
            await kube.close()


def _located(runbook: Runbook, exc: SettingError) -> RunbookError:
    path = ("service", *exc.setting)
    line = column = None
    try:
        source = parse_yaml(runbook.text, runbook.file)
        pos = source.positions.of(path)
        if pos is not None:
            line, column = pos
    except Exception:  # noqa: BLE001 - a Markdown runbook has no YAML positions to offer
        pos = None
    return RunbookError(
        f"service.{'.'.join(exc.setting)}: {exc.message}",
        file=runbook.file,
        line=line,
        column=column,
        hint=exc.hint,
    )
