"""An in-memory driver, so steps, strategies and the scheduler are tested without processes.

It keeps the contract of ``base.Driver`` (and its error messages' shape) without running
anything: ``start`` renders the command template like the local driver does (so a template
error still surfaces), hands out ports and pids from counters and records the instance;
``stop`` forgets it. A test scripts trouble through ``fail_start`` (a version that exits with
the given output), ``unhealthy`` (versions whose health check fails) and ``crash()`` (a
process dying behind runwright's back), and reads ``calls`` and ``commands`` afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runwright.drivers.base import Instance, ServiceSpec
from runwright.drivers.local import render_command
from runwright.engine.clock import Clock
from runwright.errors import DriverError


@dataclass
class FakeDriver:
    """Instances live in a dict; ``calls`` records ``start web v2`` / ``stop web v1`` lines."""

    clock: Clock
    host: str = "127.0.0.1"
    fail_start: dict[str, list[str]] = field(default_factory=dict)
    unhealthy: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    next_port: int = 20000
    next_pid: int = 40000
    running: dict[str, list[Instance]] = field(default_factory=dict)

    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        self.calls.append(f"start {spec.name} {version}")
        port, pid = self.next_port, self.next_pid
        self.next_port += 1
        self.next_pid += 1
        command = render_command(spec, host=self.host, port=port, version=version)
        self.commands.append(command)
        if version in self.fail_start:
            output = "\n".join(f"  | {line}" for line in self.fail_start[version])
            raise DriverError(
                f"{spec.name} {version} exited before it became healthy; "
                f"last output:\n{output or '  (no output)'}",
                retryable=False,
                hint="check the service command",
            )
        if version in self.unhealthy:
            await self.clock.sleep(spec.start_timeout)
            raise DriverError(
                f"{spec.name} {version} was not healthy within "
                f"{spec.start_timeout:g}s (GET {spec.health} on port {port}: "
                "last answer: HTTP 503); last output:\n  (no output)",
                retryable=False,
                hint="check the service command",
            )
        instance = Instance(
            service=spec.name,
            version=version,
            host=self.host,
            port=port,
            pid=pid,
            started_at=self.clock.now(),
            pgid=pid,
            start_ticks=pid,
            health=spec.health,
            command=command,
        )
        self.running.setdefault(spec.name, []).append(instance)
        return instance

    async def stop(self, instance: Instance, grace: float) -> None:
        self.calls.append(f"stop {instance.service} {instance.version}")
        alive = self.running.get(instance.service, [])
        if instance in alive:
            alive.remove(instance)

    async def instances(self, service: str) -> list[Instance]:
        return list(self.running.get(service, []))

    async def healthy(self, instance: Instance) -> bool:
        return (
            instance in self.running.get(instance.service, [])
            and instance.version not in self.unhealthy
        )

    def crash(self, instance: Instance) -> None:
        """The process dies on its own: it is no longer listed and no longer healthy."""
        alive = self.running.get(instance.service, [])
        if instance in alive:
            alive.remove(instance)

    def versions(self, service: str) -> list[str]:
        return [i.version for i in self.running.get(service, [])]
