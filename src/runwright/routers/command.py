"""The ``command`` router: your own script moves traffic (an nginx upstream, a cloud LB...).

``route`` is a command template run with the whole table of backends as JSON on stdin,
``[{"name": "v2", "host": "10.0.0.5", "port": 8080, "weight": 90}, ...]``; it must exit 0
once the table is in effect. runwright calls it with the make-before-break tables of
``transition`` (raise first, lower after), so even a script that rewrites its whole config
each time never sees a table without a backend. There are no counters or draining here:
analysis reads Prometheus or a scrape, and the script drains as it sees fit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runwright.engine.clock import Clock, SystemClock
from runwright.engine.spawn import NotStarted, exports, run_script
from runwright.errors import DriverError
from runwright.model.templating import render
from runwright.routers.base import Backend, BackendCounters, transition


@dataclass(frozen=True)
class CommandRouterSettings:
    route: str
    timeout: float = 30.0
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)


class CommandRouter:
    def __init__(self, settings: CommandRouterSettings, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.settings = settings
        self._current: list[Backend] = []

    async def ensure_started(self) -> None:
        return None

    async def apply(self, backends: Sequence[Backend]) -> None:
        for table in transition(self._current, backends):
            await self._route(table)
            self._current = list(table)

    async def _route(self, table: Sequence[Backend]) -> None:
        s = self.settings
        command = render(s.route, dict(s.variables), shell=True, where="service.router.route")
        payload = json.dumps([b.to_dict() for b in table])
        try:
            done = await run_script(
                exports(s.env) + command,
                timeout=s.timeout,
                clock=self.clock,
                stdin=payload.encode(),
                cwd=s.cwd,
                merge_stderr=True,
            )
        except NotStarted as exc:
            raise DriverError(f"cannot run the route command: {exc.reason}") from None
        except TimeoutError:
            raise DriverError(f"the route command did not finish within {s.timeout:g}s") from None
        if done.code != 0:
            raise DriverError(f"the route command exited {done.code}:\n" + done.tail(10))

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def counters(self) -> dict[str, BackendCounters]:
        return {}

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        return [f"run the route command with the weight table on stdin: {self.settings.route}"]
