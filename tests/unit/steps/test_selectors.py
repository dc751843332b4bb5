"""``{{ new_selector }}`` / ``{{ old_selector }}``: the matcher of one version's series, from
where it runs, so a seed's rule without a version label can judge a canary."""

from __future__ import annotations

from typing import Any, cast

from runwright.drivers.base import ServiceSpec
from runwright.drivers.fake import FakeDriver
from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
from runwright.engine.clock import FakeClock
from runwright.kube.client import Kube
from runwright.routers.ingress_nginx import IngressNginxRouter
from runwright.steps.selectors import NOTHING, selector

NO_KUBE = cast(Kube, None)  # the selector reads settings only, never the API


async def test_a_local_version_is_its_instance() -> None:
    driver = FakeDriver(FakeClock())
    started = await driver.start(ServiceSpec(name="shop", command="app"), "v2")
    assert await selector(driver, None, "shop", "v2") == f'instance="127.0.0.1:{started.port}"'
    assert await selector(driver, None, "shop", "v1") == NOTHING
    assert await selector(driver, None, "shop", "") == NOTHING


async def test_on_kubernetes_the_relabelled_pod_label_or_the_canary_service() -> None:
    settings = KubernetesSettings(image="x:{{ version }}", service="legal-ai-backend-production")
    driver = KubernetesDriver(NO_KUBE, settings)
    assert await selector(driver, None, "backend", "v2.1.0") == 'version="v2.1.0"'
    canary: Any = IngressNginxRouter(NO_KUBE, "legal-ai-api")
    assert await selector(driver, canary, "backend", "v2.1.0") == (
        'service="legal-ai-backend-production-v2-1-0"'
    )
