"""Build the driver and router a runbook's ``service`` section asks for, for the steps to use.

Each environment gets its own service name (``NAME-ENV``), so staging and production
versions never share pid files, Deployments or router state. Settings are resolved here, at
the edge of the run: paths relative to the runbook's directory, the kubeconfig from the
runbook, else ``KUBECONFIG``/``~/.kube/config`` of the environment runwright started in, else
the pod's service account. ``verify_services`` checks driver and router settings against the
world (read-only) before a run or a plan, turning a ``SettingError`` into ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.app.runtime.release import service_name
from runwright.app.runtime.settings import Settings
from runwright.drivers.base import Driver, ServiceSpec, Verified
from runwright.engine.clock import Clock, SystemClock
from runwright.errors import RunbookError, SettingError
from runwright.kube.client import Kube, NoCluster
from runwright.model.loader import Runbook
from runwright.model.release import (
    AlbRouterSpec,
    AwsSpec,
    CommandDriverSpec,
    CommandRouterSpec,
    EcsDriverSpec,
    GatewayApiRouterSpec,
    IngressNginxRouterSpec,
    KubernetesDriverSpec,
    LocalRouterSpec,
    ServiceSelectorRouterSpec,
)
from runwright.model.source import parse_yaml
from runwright.model.templating import render
from runwright.routers import make_router, settings_for
from runwright.routers.base import Router, split_address
from runwright.routers.limits import ProxyLimits
from runwright.steps.services import Release, StepServices

if TYPE_CHECKING:
    from runwright.aws.session import AwsSettings


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
    settings: Settings,
    runbook: Runbook,
    env_name: str,
    variables: dict[str, Any] | None = None,
    unit: str | None = None,
    clock: Clock | None = None,
) -> Release:
    """The driver, router and service spec of the runbook's service (or of the product's
    service ``unit``: its own names, state and router; a service without a router gets
    ``NoRouter``), all on ``clock`` (the runtime's, so a test's FakeClock reaches every
    deadline they keep)."""
    service = runbook.services[unit] if unit is not None else runbook.service
    assert service is not None
    name = service_name(runbook, env_name, unit)
    # str() would drop the Outside mark that lets raw refuse a --var in the service command
    plain: dict[str, Any] = {
        k: v if isinstance(v, str) else str(v) for k, v in (variables or {}).items()
    }
    if unit is not None:
        plain["services"] = (variables or {}).get("services", {})
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
    clock = clock or SystemClock()
    driver_spec, router_spec = service.driver, service.router
    if isinstance(driver_spec, KubernetesDriverSpec):
        return _kubernetes(settings, runbook, driver_spec, router_spec, spec, clock)
    cwd = service.cwd or str(_base_dir(runbook))
    if router_spec is None:
        from runwright.routers.none import NoRouter

        router: Router = NoRouter(name)
        reserved: frozenset[int] = frozenset()
    else:
        router, reserved = _host_router(settings, router_spec, spec, cwd, clock)
    driver = _host_driver(driver_spec, spec, cwd, clock)
    if unit is not None:
        reserved |= _product_ports(runbook)
    if driver is None:
        from runwright.drivers.local import LocalDriver, LocalSettings

        driver = LocalDriver(
            LocalSettings(state_dir=settings.state_dir, reserved_ports=reserved), clock
        )
    return Release(driver, router, spec)


def _product_ports(runbook: Runbook) -> frozenset[int]:
    """Every port the product's local routers listen on: no service's version may take one."""
    ports: set[int] = set()
    for spec in runbook.services.values():
        if isinstance(spec.router, LocalRouterSpec):
            listen = spec.router.listen
            for address in (listen, admin_address(listen, spec.router.admin)):
                ports.add(split_address(address)[1])
    return frozenset(ports)


def _host_driver(driver_spec: Any, spec: ServiceSpec, cwd: str, clock: Clock) -> Driver | None:
    """The command, ECS or fake driver a runbook names (None: the local driver)."""
    plain = {k: v for k, v in spec.variables.items() if isinstance(v, str)}
    if isinstance(driver_spec, CommandDriverSpec):
        from runwright.drivers.command import CommandDriver, CommandSettings

        return CommandDriver(
            CommandSettings(
                start=driver_spec.start,
                stop=driver_spec.stop,
                list=driver_spec.list,
                health=driver_spec.health,
                timeout=driver_spec.timeout,
                cwd=cwd,
                env=dict(spec.env),
                variables={**plain, "service": spec.name},
            ),
            clock,
        )
    if isinstance(driver_spec, EcsDriverSpec):
        return _ecs_driver(driver_spec, plain, clock)
    if driver_spec.kind == "fake":
        from runwright.drivers.fake import FakeDriver

        return FakeDriver(clock)
    return None


def _ecs_driver(driver_spec: EcsDriverSpec, plain: Mapping[str, str], clock: Clock) -> Driver:
    from runwright.drivers.ecs import EcsDriver, EcsSettings

    t = _templated(plain, "service.driver")
    return EcsDriver(
        EcsSettings(
            aws=_aws(driver_spec, t),
            cluster=t(driver_spec.cluster),
            task_definition=t(driver_spec.task_definition),
            image=driver_spec.image,
            mode=driver_spec.mode,
            service=t(driver_spec.service) if driver_spec.service else None,
            container=driver_spec.container,
            target_groups=tuple(t(g) for g in driver_spec.target_groups),
            container_port=driver_spec.container_port,
            desired_count=driver_spec.desired_count,
            poll_interval=driver_spec.poll_interval,
            launch_type=driver_spec.launch_type,
            network=dict(driver_spec.network),
            variables=plain,
        ),
        clock,
    )


def _host_router(
    settings: Settings, router_spec: Any, spec: ServiceSpec, cwd: str, clock: Clock
) -> tuple[Router, frozenset[int]]:
    """The router a runbook names, and the ports the local driver must leave to it."""
    plain = {k: v for k, v in spec.variables.items() if isinstance(v, str)}
    if isinstance(router_spec, CommandRouterSpec):
        from runwright.routers.command import CommandRouter, CommandRouterSettings

        command = CommandRouter(
            CommandRouterSettings(
                route=router_spec.route,
                timeout=router_spec.timeout,
                cwd=cwd,
                env=dict(spec.env),
                variables={**plain, "service": spec.name},
            ),
            clock,
        )
        return command, frozenset()
    if isinstance(router_spec, AlbRouterSpec):
        from runwright.routers.alb import AlbRouter, AlbSettings

        t = _templated(plain, "service.router")
        alb = AlbRouter(
            AlbSettings(
                aws=_aws(router_spec, t),
                listener=t(router_spec.listener),
                target_groups=tuple(t(g) for g in router_spec.target_groups),
                rule=t(router_spec.rule) if router_spec.rule else None,
                drain=router_spec.drain,
            ),
            clock,
        )
        return alb, frozenset()
    assert isinstance(router_spec, LocalRouterSpec)
    router_settings = settings_for(
        router_spec.kind,
        settings.state_dir / "routers" / spec.name,
        router_spec.listen,
        admin_address(router_spec.listen, router_spec.admin),
        ProxyLimits(
            **router_spec.timeouts.model_dump(), max_connections=router_spec.max_connections
        ),
    )
    local = make_router(router_spec.kind, router_settings, clock)
    return local, frozenset(split_address(a)[1] for a in router_settings.addresses())


def _templated(variables: Mapping[str, str], where: str) -> Callable[[str], str]:
    """Render a setting with the runbook's variables (ARNs and endpoints often come from vars)."""
    return lambda value: render(value, variables, where=where)


def _aws(spec: AwsSpec, t: Callable[[str], str]) -> AwsSettings:
    from runwright.aws.session import AwsSettings

    return AwsSettings(
        region=t(spec.region) or None if spec.region else None,
        profile=spec.profile,
        endpoint_url=t(spec.endpoint_url) or None if spec.endpoint_url else None,
    )


def _kubernetes(
    settings: Settings,
    runbook: Runbook,
    driver_spec: KubernetesDriverSpec,
    router_spec: Any,
    spec: ServiceSpec,
    clock: Clock,
) -> Release:
    """The Kubernetes driver and the router that goes with it (Service or Gateway routes)."""
    name = spec.name
    plain = {k: v for k, v in spec.variables.items() if isinstance(v, str)}
    from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
    from runwright.kube.client import KubeSettings

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
    routes = _kube_router(kube, router_spec, name, driver_spec.version_label)
    return Release(kdriver, routes, spec)


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
    if services.units:
        for name, unit in services.units.items():
            await _verify(runbook, (unit.driver, unit.router), ("services", name))
        return
    await _verify(runbook, (services.driver, services.router), ("service",))


async def _verify(runbook: Runbook, parts: tuple[object, ...], at: tuple[str, ...]) -> None:
    targets = [s for s in parts if isinstance(s, Verified)]
    if not targets:
        return
    try:
        for target in targets:
            await target.verify()
    except SettingError as exc:
        raise _located(runbook, exc, (*at, *exc.setting)) from None
    finally:
        kube = getattr(parts[0], "kube", None)
        if kube is not None:
            await kube.close()


def verify_aws_checks(runbook: Runbook) -> None:
    """A CloudWatch check needs a region and credentials from the AWS chain: say so before
    the run starts (at the check's position), not when a bake is half done."""
    from runwright.model.checks import CloudWatchCheck

    for name, check in runbook.checks.items():
        if not isinstance(check, CloudWatchCheck):
            continue
        from runwright.aws.session import AwsSettings, check_credentials  # boto3: ~0.3 s

        aws = AwsSettings(region=check.region, profile=check.profile)
        try:
            check_credentials(aws, f"check {name}")
        except SettingError as exc:
            where = exc.setting[-1] if exc.setting[-1] in check.written() else "provider"
            raise _located(runbook, exc, ("checks", name, where)) from None


class ClusterUnread(RunbookError):
    """The runbook's cluster cannot be read here (no kubeconfig, and not in a pod): a run is
    refused, while ``plan`` shows what it would send and says the cluster was not read."""


def _located(
    runbook: Runbook, exc: SettingError, at: tuple[str, ...] | None = None
) -> RunbookError:
    path = at or ("service", *exc.setting)
    line = column = None
    try:
        source = parse_yaml(runbook.text, runbook.file)
        pos = source.positions.of(path)
        if pos is not None:
            line, column = pos
    except Exception:  # noqa: BLE001 - a Markdown runbook has no YAML positions to offer
        pos = None
    kind = ClusterUnread if isinstance(exc, NoCluster) else RunbookError
    return kind(
        f"{'.'.join(path)}: {exc.message}",
        file=runbook.file,
        line=line,
        column=column,
        hint=exc.hint,
    )
