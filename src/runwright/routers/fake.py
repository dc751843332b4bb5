"""An in-memory router, so steps, strategies and the demo move traffic without processes.

It keeps the contract of ``base.Router`` and goes through the same ``transition`` tables a real
router does, recording each one in ``tables`` (and each ``apply`` call in ``applies``). Every
step is checked on the way: a table in which no backend takes traffic, or a change that lowers
one backend while raising another in the same step, raises AssertionError, so any test that
uses the fake also proves make-before-break. A test scripts requests in flight
(``in_flight``) and counters (``served``) and reads ``weights()`` afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runwright.engine.clock import Clock, SystemClock
from runwright.errors import DriverError
from runwright.routers.base import Backend, BackendCounters, transition


def check_step(before: Sequence[Backend], after: Sequence[Backend]) -> None:
    """Assert that going from ``before`` to ``after`` is make-before-break safe."""
    assert any(b.weight > 0 for b in after), f"no backend takes traffic in {list(after)}"
    old = {b.name: b for b in before}
    new = {b.name: b for b in after}
    raised = [
        n
        for n, b in new.items()
        if n not in old
        or b.weight > old[n].weight
        or (b.host, b.port) != (old[n].host, old[n].port)
    ]
    lowered = [n for n, b in old.items() if n not in new or new[n].weight < b.weight]
    assert not (raised and lowered) or not any(old[n].weight for n in lowered), (
        f"one step raised {raised} and lowered {lowered}: raise first, then lower"
    )


@dataclass
class FakeRouter:
    clock: Clock = field(default_factory=SystemClock)
    started: bool = False
    starts: int = 0
    table: list[Backend] = field(default_factory=list)
    tables: list[list[Backend]] = field(default_factory=list)
    applies: list[list[Backend]] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    served: dict[str, BackendCounters] = field(default_factory=dict)
    drained: list[str] = field(default_factory=list)
    fail_apply: str | None = None

    async def ensure_started(self) -> None:
        if not self.started:
            self.started = True
            self.starts += 1

    async def apply(self, backends: Sequence[Backend]) -> None:
        if not self.started:
            raise DriverError("the router is not started", hint="call ensure_started first")
        if self.fail_apply:
            raise DriverError(self.fail_apply)
        self.applies.append(list(backends))
        for table in transition(self.table, backends):
            check_step(self.table, table)
            self.table = table
            self.tables.append(table)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        deadline = self.clock.monotonic() + timeout
        while self.in_flight.get(name, 0) > 0:
            if self.clock.monotonic() >= deadline:
                raise DriverError(
                    f"backend {name} still has {self.in_flight[name]} requests in flight "
                    f"after {timeout:g}s"
                )
            await self.clock.sleep(0.05)
        self.drained.append(name)

    async def counters(self) -> dict[str, BackendCounters]:
        out = {
            b.name: BackendCounters(
                name=b.name, weight=b.weight, in_flight=self.in_flight.get(b.name, 0)
            )
            for b in self.table
        }
        out.update(self.served)
        return out

    async def stop(self) -> None:
        self.started = False

    def weights(self) -> dict[str, int]:
        return {b.name: b.weight for b in self.table}
