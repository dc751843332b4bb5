"""The contract of a driver: where a version of a service runs, so steps never care how.

A release starts the new version beside the old one, checks it, moves traffic, and later stops
the old one. The ``service`` step does that through four calls, whatever runs the processes
(local processes today; containers or cloud tasks later):

    start(spec, version)  -> Instance   start it and wait until healthy, or raise DriverError
                                        (with the last lines of its output) and leave nothing
    stop(instance, grace)               SIGTERM, wait up to ``grace``, then kill; idempotent
    instances(service)    -> [Instance] what runs now, found again after runwright restarts
    healthy(instance)     -> bool       does it answer its health check now

``ServiceSpec`` is how to run the service (from the runbook's ``service`` section, rendered per
version by the driver); ``Instance`` is one running version with what is needed to recognise
its process again (process and group ids, start time) so a recycled pid is never mistaken for
it, and never killed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


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
    variables: Mapping[str, str] = field(default_factory=dict)


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

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def describe(self) -> str:
        return f"{self.service} {self.version} on {self.host}:{self.port} (pid {self.pid})"


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
