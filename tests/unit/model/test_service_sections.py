"""``service.driver`` and ``service.router`` are typed sections, checked where they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.errors import RunbookError
from runwright.model.loader import load_runbook
from runwright.model.release import (
    CommandDriverSpec,
    KubernetesDriverSpec,
    LocalDriverSpec,
    LocalRouterSpec,
)
from runwright.routers.limits import ProxyLimits
from runwright.steps.registry import step_kinds

HEAD = "name: shop\nenvironments: {prod: {}}\n"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "shop.yaml"
    path.write_text(HEAD + text)
    return load_runbook(path, step_kinds())


def test_a_driver_name_is_short_for_its_section(tmp_path: Path) -> None:
    book = load(tmp_path, "service: {command: 'app {{ port }}', driver: fake}\n")
    assert book.service is not None
    assert book.service.driver == LocalDriverSpec(kind="fake")
    assert book.service.router.kind == "builtin"


def test_kubernetes_and_command_sections_are_typed(tmp_path: Path) -> None:
    book = load(
        tmp_path,
        "service:\n"
        "  driver: {kind: kubernetes, template: d.yaml, image: 'shop:{{ version }}', retain: 2}\n"
        "  router: {kind: gateway-api, route: shop}\n",
    )
    assert book.service is not None
    assert isinstance(book.service.driver, KubernetesDriverSpec)
    assert book.service.driver.retain == 2
    book = load(
        tmp_path,
        "service:\n  driver: {kind: command, start: s, stop: t, list: l}\n",
    )
    assert book.service is not None
    assert isinstance(book.service.driver, CommandDriverSpec)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "service:\n  driver:\n    kind: kubernetes\n    image: x\n    template: d\n"
            "    namespce: shop\n  router: {kind: service-selector, service: shop}\n",
            8,
            "unknown key 'namespce'",
        ),
        (
            "service:\n  driver: {kind: kubernetes, image: x}\n"
            "  router: {kind: service-selector, service: shop}\n",
            4,
            "exactly one of template",
        ),
        (
            "service:\n  driver: {kind: kubernetes, image: x, template: d}\n",
            4,
            "needs a kubernetes router",
        ),
        ("service:\n  driver: {kind: local}\n", 4, "needs a command"),
        (
            "service:\n  command: x\n  router: {kind: ingress-nginx, ingress: i}\n",
            5,
            "use driver kubernetes",
        ),
    ],
)
def test_a_bad_section_is_reported_at_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    with pytest.raises(RunbookError) as caught:
        load(tmp_path, text)
    assert caught.value.line == line, str(caught.value)
    assert message in str(caught.value)


def test_a_router_check_needs_a_router_that_counts(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="the gateway-api router keeps no counters") as caught:
        load(
            tmp_path,
            "service:\n"
            "  driver: {kind: kubernetes, template: d.yaml, image: x}\n"
            "  router: {kind: gateway-api, route: shop}\n"
            "checks:\n"
            "  errors: {provider: router, query: x, fail_if: '> 1%', interval: 10s}\n",
        )
    assert caught.value.line == 7


def test_the_builtin_proxys_timeouts_and_connection_limit_are_read_from_the_router(
    tmp_path: Path,
) -> None:
    book = load(
        tmp_path,
        "service:\n  command: 'app {{ port }}'\n"
        "  router:\n    timeouts: {head: 2s, response: 1m}\n    max_connections: 100\n",
    )
    assert book.service is not None
    router = book.service.router
    assert isinstance(router, LocalRouterSpec)
    limits = ProxyLimits(**router.timeouts.model_dump(), max_connections=router.max_connections)
    assert limits == ProxyLimits(head=2.0, response=60.0, max_connections=100)
    assert limits.as_args()[:4] == ["--head", "2", "--body", "30"]
    with pytest.raises(RunbookError, match=r"shop.yaml:6:22: .*idle: .*greater than 0"):
        load(tmp_path, "service:\n  command: x\n  router:\n    timeouts: {idle: 0s}\n")
