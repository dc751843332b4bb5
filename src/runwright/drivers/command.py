"""The ``command`` driver: your own scripts start, stop, list and check versions.

Teams with their own deploy scripts (``deploy-production.sh``) or a docker compose host get
strategies, analysis and rollback without writing Python: each call is a command template
from the runbook, rendered with shell-quoted values and run with ``/bin/sh -c``:

    start   {{ version }}                 prints a JSON line {"id": ..., "address": "HOST:PORT"}
                                          (the last such line of its output counts)
    stop    {{ id }} {{ version }} {{ address }}    idempotent
    list                                  prints one JSON line {"id","version","address"} per
                                          running instance (or one JSON array of them)
    health  {{ id }} {{ address }}        exits 0 when healthy; without it, GET the
                                          service's health path at the address

A start is ready once healthy; when it is not within ``start_timeout``, its output's last
lines go into the error and ``stop`` is run so nothing is left. The instance's ``id`` is its
journaled handle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runwright.drivers.base import Instance, ServiceSpec
from runwright.drivers.local import probe
from runwright.engine.clock import Clock, SystemClock
from runwright.engine.spawn import Finished, NotStarted, exports, run_script
from runwright.errors import DriverError
from runwright.model.templating import outside, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandSettings:
    start: str
    stop: str
    list: str
    health: str = ""
    timeout: float = 60.0
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    poll_interval: float = 0.2
    tail_lines: int = 20


async def run_command(
    command: str,
    *,
    timeout: float,  # noqa: ASYNC109
    cwd: str | None,
    env: Mapping[str, str],
    stdin: str = "",
    clock: Clock,
) -> Finished:
    """Run ``command`` with ``/bin/sh -c``; DriverError when it cannot start or times out."""
    try:
        return await run_script(
            exports(env) + command, timeout=timeout, clock=clock, stdin=stdin.encode(), cwd=cwd
        )
    except NotStarted as exc:
        raise DriverError(f"cannot run {command!r}: {exc.reason}", retryable=False) from None
    except TimeoutError:
        raise DriverError(f"{command!r} did not finish within {timeout:g}s") from None


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every JSON object printed (one per line, or one array); other lines are ignored."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        items = value if isinstance(value, list) else [value]
        out += [v for v in items if isinstance(v, dict)]
    return out


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DriverError(
            f"bad address {address!r} from the command driver",
            retryable=False,
            hint="print an address as HOST:PORT",
        )
    return host.strip("[]"), int(port)


class CommandDriver:
    """Versions run by the runbook's scripts; see the module docstring."""

    def __init__(self, settings: CommandSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    async def _run(self, template: str, what: str, **values: Any) -> Finished:
        context = {**self.settings.variables, **values}
        if "version" in values:  # a version comes from outside: raw may not splice it
            context["version"] = outside(str(values["version"]), "the version")
        command = render(template, context, shell=True, where=f"service.driver.{what}")
        s = self.settings
        return await run_command(command, timeout=s.timeout, cwd=s.cwd, env=s.env, clock=self.clock)

    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        ran = await self._run(self.settings.start, "start", version=version, service=spec.name)
        lines = [r for r in json_lines(ran.out) if "address" in r]
        if ran.code != 0 or not lines:
            why = f"exited {ran.code}" if ran.code else "printed no JSON line with an address"
            raise DriverError(
                f"{spec.name} {version}: the start command {why}; last output:\n"
                + ran.tail(self.settings.tail_lines),
                retryable=False,
                hint='the start command must print {"id": "...", "address": "HOST:PORT"}',
            )
        instance = self._instance(spec, version, lines[-1])
        deadline = self.clock.monotonic() + spec.start_timeout
        while not await self.healthy(instance):
            if self.clock.monotonic() >= deadline:
                await self.stop(instance, spec.stop_timeout)
                raise DriverError(
                    f"{spec.name} {version} was not healthy within {spec.start_timeout:g}s "
                    f"at {instance.host}:{instance.port}; start output:\n"
                    + ran.tail(self.settings.tail_lines),
                    retryable=False,
                    hint="check the health command or path",
                )
            await self.clock.sleep(self.settings.poll_interval)
        return instance

    async def stop(self, instance: Instance, grace: float) -> None:
        ran = await self._run(
            self.settings.stop,
            "stop",
            id=instance.handle.get("id", ""),
            version=instance.version,
            address=f"{instance.host}:{instance.port}",
            grace=grace,
            service=instance.service,
        )
        if ran.code != 0:
            raise DriverError(
                f"the stop command failed for {instance.describe()}:\n"
                + ran.tail(self.settings.tail_lines)
            )

    async def instances(self, service: str) -> list[Instance]:
        ran = await self._run(self.settings.list, "list", service=service)
        if ran.code != 0:
            raise DriverError("the list command failed:\n" + ran.tail(self.settings.tail_lines))
        spec = ServiceSpec(name=service, command="")
        return [
            self._instance(spec, str(r.get("version", "")), r)
            for r in json_lines(ran.out)
            if r.get("version") and r.get("address")
        ]

    async def healthy(self, instance: Instance) -> bool:
        if self.settings.health:
            ran = await self._run(
                self.settings.health,
                "health",
                id=instance.handle.get("id", ""),
                address=f"{instance.host}:{instance.port}",
                version=instance.version,
                service=instance.service,
            )
            return ran.code == 0
        status = await probe(instance.host, instance.port, instance.health, 2.0, self.clock)
        return status is not None and 200 <= status < 300

    def _instance(self, spec: ServiceSpec, version: str, record: Mapping[str, Any]) -> Instance:
        host, port = split(str(record["address"]))
        return Instance(
            service=spec.name,
            version=version,
            host=host,
            port=port,
            pid=0,
            started_at=self.clock.now(),
            health=spec.health,
            handle={"id": str(record.get("id", ""))},
        )
