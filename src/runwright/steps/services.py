"""What steps may reach besides their context: the driver, the router, providers, backups.

The app builds one ``StepServices`` per run (from the runbook's ``service`` section and the
settings) and the scheduler hands it, untouched, to every step. Each collaborator is typed
with its family's Protocol, so mypy checks every implementation a runbook can name against
the contract the steps rely on. A step that needs a collaborator the runbook did not declare
asks through ``release()`` and gets a message naming the missing section, not a KeyError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from runwright.databases.catalog import BackupCatalog, backup_root
from runwright.drivers.base import Driver, ServiceSpec
from runwright.engine import executor
from runwright.engine.clock import Clock
from runwright.errors import InputError
from runwright.model.checks import AnyCheck
from runwright.notify.base import Messenger
from runwright.providers.base import Provider
from runwright.routers.base import Router

ProviderFactory = Callable[[str, AnyCheck, Clock], Provider]
"""``(check name, rendered check, clock) -> Provider``: how analysis reads a check."""


class Release(NamedTuple):
    """The three collaborators a release step needs together."""

    driver: Driver
    router: Router
    service: ServiceSpec


@dataclass(frozen=True)
class StepServices:
    environ: Mapping[str, str] = field(default_factory=dict)
    """The environment commands and providers see (settings' environ, not os.environ)."""
    state_dir: Path | None = None
    base_dir: Path | None = None
    """The runbook's directory: relative paths in it (Alembic's ini) are found from there, as
    the driver's commands run there, whatever directory runwright was started in."""
    driver: Driver | None = None
    router: Router | None = None
    service: ServiceSpec | None = None
    checks: Mapping[str, AnyCheck] = field(default_factory=dict)
    """Check definitions by name, for steps whose spec does not carry them."""
    provider_factory: ProviderFactory | None = None
    """Overrides how analysis builds providers (tests inject canned measurements)."""
    notifier: Messenger | None = None
    """The runbook's sinks, for the ``notify`` step (None when it declares none)."""
    units: Mapping[str, Release] = field(default_factory=dict)
    """A product's services by name (``services:``), each with its own driver and router;
    a step of one service sees that service's through ``scoped``."""

    def scoped(self, name: str) -> StepServices:
        """These services as a step of the product's service ``name`` sees them."""
        unit = self.units.get(name)
        if unit is None:
            raise InputError(
                f"this step belongs to service '{name}', which the runbook does not declare",
                hint="services: " + (", ".join(self.units) or "none"),
            )
        return replace(self, driver=unit.driver, router=unit.router, service=unit.service)

    def release(self) -> Release:
        if self.driver is None or self.router is None or self.service is None:
            raise InputError(
                "this step starts, stops or routes versions, but the runbook has no service",
                hint="declare a service: section (command, health, router)",
            )
        return Release(self.driver, self.router, self.service)

    def path(self, text: str) -> Path:
        """``text`` as a path, a relative one taken from the runbook's directory."""
        path = Path(text).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    def backups(self, directory: str | None, clock: Clock) -> BackupCatalog:
        """The backup catalog in ``directory``, else ``STATE_DIR/backups``."""
        return BackupCatalog(backup_root(self.state_dir, directory), clock)


StepContext: TypeAlias = executor.StepContext[StepServices]
"""The context every step kind receives: the engine's, carrying runwright's services."""


if TYPE_CHECKING:
    # Each implementation assigned to its Protocol: mypy --strict checks that it conforms.
    from runwright.drivers.command import CommandDriver
    from runwright.drivers.fake import FakeDriver
    from runwright.drivers.kubernetes import KubernetesDriver
    from runwright.drivers.local import LocalDriver
    from runwright.routers.builtin import BuiltinRouter
    from runwright.routers.command import CommandRouter
    from runwright.routers.fake import FakeRouter
    from runwright.routers.gateway_api import GatewayApiRouter
    from runwright.routers.haproxy import HAProxyRouter
    from runwright.routers.ingress_nginx import IngressNginxRouter
    from runwright.routers.none import NoRouter
    from runwright.routers.service_selector import ServiceSelectorRouter

    DRIVERS: tuple[type[Driver], ...] = (LocalDriver, FakeDriver, KubernetesDriver, CommandDriver)
    ROUTERS: tuple[type[Router], ...] = (
        BuiltinRouter,
        HAProxyRouter,
        FakeRouter,
        ServiceSelectorRouter,
        IngressNginxRouter,
        GatewayApiRouter,
        CommandRouter,
        NoRouter,
    )
