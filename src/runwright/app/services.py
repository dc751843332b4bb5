"""Build the driver and router a runbook's ``service`` section asks for, for the steps to use.

Each environment gets its own service name (``NAME-ENV``), so staging and production
versions never share pid files, Deployments or router state. Settings are resolved here, at
the edge of the run: paths relative to the runbook's directory, the kubeconfig from the
runbook, else ``KUBECONFIG``/``~/.kube/config`` of the environment runwright started in, else
the pod's service account. ``verify_services`` checks driver and router settings against the
world (read-only) before a run or a plan, turning a ``SettingError`` into ``file:line:col``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.app.release import service_name
from runwright.app.settings import Settings
from runwright.drivers.base import Driver, ServiceSpec, Verified
from runwright.engine.clock import SystemClock
from runwright.errors import RunbookError, SettingError
from runwright.kube.client import Kube
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
from runwright.routers import make_router
from runwright.routers.base import Router, RouterSettings, split_address
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
        return _kubernetes(settings, runbook, service.driver, spec, clock)
    router, reserved = _router(settings, runbook, spec, clock)
    driver: Driver
    d = service.driver
    if isinstance(d, CommandDriverSpec):
        from runwright.drivers.command import CommandDriver, CommandSettings

        driver = CommandDriver(
            CommandSettings(
                start=d.start,
                stop=d.stop,
                list=d.list,
                health=d.health,
                timeout=d.timeout,
                cwd=service.cwd or str(_base_dir(runbook)),
                env=dict(service.env),
                variables={**plain, "service": name},
            ),
            clock,
        )
    elif isinstance(d, EcsDriverSpec):
        driver = _ecs(d, plain, clock)
    elif d.kind == "fake":
        from runwright.drivers.fake import FakeDriver

        driver = FakeDriver(clock)
    else:
        from runwright.drivers.local import LocalDriver, LocalSettings

        driver = LocalDriver(LocalSettings(state_dir=settings.state_dir, reserved_ports=reserved))
    return Release(driver, router, spec)


def _kubernetes(
    settings: Settings,
    runbook: Runbook,
    d: KubernetesDriverSpec,
    spec: ServiceSpec,
    clock: SystemClock,
) -> Release:
    from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
    from runwright.kube.client import KubeSettings

    assert runbook.service is not None
    kube = Kube(
        KubeSettings(
            kubeconfig=_kubeconfig(settings, runbook, d.kubeconfig),
            context=d.context,
            namespace=d.namespace,
        )
    )
    driver = KubernetesDriver(
        kube,
        KubernetesSettings(
            image=d.image,
            service=spec.name,
            template_file=(_base_dir(runbook) / d.template) if d.template else None,
            template_deployment=d.template_deployment,
            container=d.container,
            port=d.port,
            retain=d.retain,
            version_label=d.version_label,
            poll_interval=d.poll_interval,
            log_lines=d.log_lines,
            variables=spec.variables,
        ),
        clock,
    )
    router = _kube_router(kube, runbook.service.router, spec.name, d.version_label)
    return Release(driver, router, spec)


def _ecs(d: EcsDriverSpec, plain: Mapping[str, str], clock: SystemClock) -> Driver:
    from runwright.drivers.ecs import EcsDriver, EcsSettings

    t = _templated(plain, "service.driver")
    return EcsDriver(
        EcsSettings(
            aws=_aws(d, t),
            cluster=t(d.cluster),
            task_definition=t(d.task_definition),
            image=d.image,
            mode=d.mode,
            service=t(d.service) if d.service else None,
            container=d.container,
            target_groups=tuple(t(g) for g in d.target_groups),
            container_port=d.container_port,
            desired_count=d.desired_count,
            poll_interval=d.poll_interval,
            launch_type=d.launch_type,
            network=dict(d.network),
            variables=dict(plain),
        ),
        clock,
    )


def _router(
    settings: Settings, runbook: Runbook, spec: ServiceSpec, clock: SystemClock
) -> tuple[Router, frozenset[int]]:
    """The router of a service outside Kubernetes, and the ports a version must never get."""
    assert runbook.service is not None
    r = runbook.service.router
    if isinstance(r, CommandRouterSpec):
        from runwright.routers.command import CommandRouter, CommandRouterSettings

        command = CommandRouterSettings(
            route=r.route,
            timeout=r.timeout,
            cwd=runbook.service.cwd or str(_base_dir(runbook)),
            env=dict(runbook.service.env),
            variables={**spec.variables, "service": spec.name},
        )
        return CommandRouter(command), frozenset()
    if isinstance(r, AlbRouterSpec):
        from runwright.routers.alb import AlbRouter, AlbSettings

        t = _templated(spec.variables, "service.router")
        alb = AlbSettings(
            aws=_aws(r, t),
            listener=t(r.listener),
            target_groups=tuple(t(g) for g in r.target_groups),
            rule=t(r.rule) if r.rule else None,
            drain=r.drain,
        )
        return AlbRouter(alb, clock), frozenset()
    assert isinstance(r, LocalRouterSpec)
    router_settings = RouterSettings(
        state_dir=settings.state_dir / "routers" / spec.name,
        listen=r.listen,
        admin=admin_address(r.listen, r.admin),
    )
    reserved = frozenset(
        split_address(a)[1] for a in (router_settings.listen, router_settings.admin)
    )
    return make_router(r.kind, router_settings, clock), reserved


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


def verify_services(runbook: Runbook, services: StepServices) -> None:
    """Check the driver's and router's settings against the world, read-only; a setting that
    cannot work is an InputError at its ``file:line:col`` in the runbook."""
    parts: tuple[object, ...] = (services.driver, services.router)
    targets = [s for s in parts if isinstance(s, Verified)]
    if not targets:
        return

    async def check() -> None:
        try:
            for target in targets:
                await target.verify()
        finally:
            kube = getattr(services.driver, "kube", None)
            if kube is not None:
                await kube.close()

    try:
        asyncio.run(check())
    except SettingError as exc:
        raise _located(runbook, exc) from None


def verify_aws_checks(runbook: Runbook) -> None:
    """A CloudWatch check needs a region and credentials from the AWS chain: say so before
    the run starts (at the check's position), not when a bake is half done."""
    from runwright.aws.session import AwsSettings, check_credentials

    for name, mapping in runbook.checks.items():
        if mapping.get("provider") != "cloudwatch":
            continue
        aws = AwsSettings(region=mapping.get("region"), profile=mapping.get("profile"))
        try:
            check_credentials(aws, f"check {name}")
        except SettingError as exc:
            where = exc.setting[-1] if exc.setting[-1] in mapping else "provider"
            raise _located(runbook, exc, ("checks", name, where)) from None


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
    return RunbookError(
        f"{'.'.join(path)}: {exc.message}",
        file=runbook.file,
        line=line,
        column=column,
        hint=exc.hint,
    )
