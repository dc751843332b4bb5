"""The contract of a driver: where a version of a service runs, so steps never care how.

A release starts the new version beside the old one, checks it, moves traffic, and later stops
the old one. The ``service`` step does that through four calls, whatever runs the version
(local processes, Kubernetes Deployments, your own scripts, later ECS services):

    start(spec, version)  -> Instance   start it and wait until ready, or raise DriverError
                                        (saying why: last output, pods' events) and leave
                                        nothing taking resources; reuses what a retired
                                        version left (a Deployment scaled to zero)
    stop(instance, grace)               stop it, letting requests finish for ``grace``;
                                        idempotent. What "stopped" keeps (nothing, or a
                                        Deployment at zero replicas) is the driver's choice
    instances(service)    -> [Instance] the versions running now, oldest first, found again
                                        from the world (pid files, labels) after a restart
    healthy(instance)     -> bool       is it ready to take traffic now

An ``Instance`` is one version running somewhere: ``host:port`` is the address routers send
its traffic to and smoke tests reach (``preview_url`` when the version has a separate address
for tests, e.g. a preview Service); ``handle`` is the driver's own name for it (a Deployment
and its uid, a container id) which the ``service`` step journals with its outcome, so a run
resumed after a crash can tell which instance it started. The local driver keeps its process
identity in ``pid``/``pgid``/``start_ticks`` (0 for every other driver) so a recycled pid is
never mistaken for it, and never killed.

Two optional extras (``Planned`` and ``Verified``) let ``plan`` print the exact objects a
driver or router will send and let settings be checked against the world before a run
starts; routers are in ``runwright.routers.base``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ServiceSpec:
    """How to run any version of a service.

    ``command`` is a template: ``{{ port }}``, ``{{ version }}`` and ``{{ host }}`` are filled in
    (shell-quoted) for each start, and so are ``variables`` (the runbook's own values).
    ``health`` is the path probed until the version answers 2xx.
    """

    name: str
    command: str
    health: str = "/health"
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    """One running version of a service.

    ``pid`` is the process started for the version and ``pgid`` its process group (which a stop
    signals, so helpers the command forked go too); ``start_ticks`` is the process start time
    the kernel reports, which tells the process apart from a later one that got the same pid.
    """

    service: str
    version: str
    host: str
    port: int
    pid: int
    started_at: datetime
    pgid: int = 0
    start_ticks: int = 0
    health: str = "/health"
    command: str = ""
    log: str = ""
    handle: Mapping[str, str] = field(default_factory=dict, hash=False)
    preview_url: str = ""

    @property
    def url(self) -> str:
        if self.preview_url:
            return self.preview_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def describe(self) -> str:
        where = (
            f"pid {self.pid}" if self.pid else ", ".join(f"{k} {v}" for k, v in self.handle.items())
        )
        return f"{self.service} {self.version} on {self.host}:{self.port} ({where})"


@runtime_checkable
class Driver(Protocol):
    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        """Start ``version`` on a free port and wait until it is healthy.

        Raise DriverError, with the last lines of its output, when it exits or is not healthy
        within ``spec.start_timeout``; nothing is left running then.
        """
        ...

    async def stop(self, instance: Instance, grace: float) -> None:
        """Ask it to stop (SIGTERM), wait up to ``grace`` seconds, then kill it. Idempotent."""
        ...

    async def instances(self, service: str) -> list[Instance]:
        """The versions of ``service`` running now, oldest first."""
        ...

    async def healthy(self, instance: Instance) -> bool:
        """Whether it is running and answers its health check now."""
        ...


@runtime_checkable
class Planned(Protocol):
    """A driver or router that can say exactly what it will send, for ``plan``."""

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        """Lines for ``plan``: the objects and patches of ``action`` (start, stop, route)."""
        ...


@runtime_checkable
class Verified(Protocol):
    """A driver or router whose settings can be checked against the world before a run."""

    async def verify(self) -> None:
        """Raise SettingError (naming the setting) when a setting cannot work. Read-only."""
        ...
