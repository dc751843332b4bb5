"""The label selector that picks one version's series in a metrics system.

A runbook's rule such as ``rate(http_requests_total{status=~"5.."}[5m])`` has no version in
it, so it cannot judge a canary beside the stable version. Checks may write
``{{ new_selector }}`` and ``{{ old_selector }}`` instead, and get the matcher of the new and
the previous version from where the version runs:

    ingress-nginx router    service="<the version's Service>"  (ingress-nginx labels its
                            series with the backend Service it sent to)
    kubernetes driver       version="<version>"  (the pod label runwright.dev/version, which
                            Prometheus relabels to ``version``; docs/analysis.md)
    local, command drivers  instance="<host:port>"  (the instance Prometheus scrapes)

A version that runs nowhere (the previous one of a first release) gets a matcher that
matches nothing, so a query over it reads no data rather than every series.
"""

from __future__ import annotations

from runwright.drivers.base import Driver
from runwright.drivers.kubernetes import KubernetesDriver
from runwright.kube.names import label_value, object_name
from runwright.routers.base import Router
from runwright.routers.ingress_nginx import IngressNginxRouter
from runwright.steps.services import StepContext

NOTHING = 'version="<none>"'


async def selector(driver: Driver | None, router: Router | None, service: str, version: str) -> str:
    """The matcher of ``version``'s series (without braces), by driver and router."""
    if not version:
        return NOTHING
    if isinstance(driver, KubernetesDriver):
        if isinstance(router, IngressNginxRouter):
            return f'service="{object_name(driver.settings.service, version)}"'
        return f'version="{label_value(version)}"'
    if driver is None:
        return f'version="{version}"'
    for inst in await driver.instances(service):
        if inst.version == version:
            return f'instance="{inst.host}:{inst.port}"'
    return NOTHING


async def version_selectors(ctx: StepContext) -> dict[str, str]:
    """``new_selector`` and ``old_selector`` for a step's checks."""
    services = ctx.services
    name = services.service.name if services.service is not None else ""
    new = str(ctx.variables.get("version") or "")
    old = str(ctx.variables.get("previous_version") or "")
    return {
        "new_selector": await selector(services.driver, services.router, name, new),
        "old_selector": await selector(services.driver, services.router, name, old),
    }
