"""How a runbook describes the service it releases and the release strategy.

``service`` says how to start a version (a command template with ``{{ port }}`` and
``{{ version }}``), how to tell it is healthy, and which router carries its traffic.
``release`` picks a strategy (recreate, blue_green, canary) and its knobs; the strategy
expands into ordinary steps, so ``plan`` shows every one of them. ``analysis`` names the
runbook's checks that watch the canary pauses and the bake; ``compare: baseline`` also judges
a canary's values against the stable version's over each pause.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from runwright.model.types import Duration, Strict


class RouterSpec(Strict):
    kind: Literal["builtin", "haproxy", "fake"] = "builtin"
    listen: str = "127.0.0.1:8080"
    admin: str | None = None

    @field_validator("listen", "admin")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("write an address as HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class ServiceSpec(Strict):
    name: str | None = None
    driver: Literal["local", "fake"] = "local"
    command: str
    health: str = "/health"
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    start_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0
    router: RouterSpec = Field(default_factory=RouterSpec)


class ReleaseSpec(Strict):
    strategy: Literal["recreate", "blue_green", "canary"] = "blue_green"
    smoke: list[dict[str, Any]] = Field(default_factory=list)
    bake: Duration = 0.0
    keep_previous: Duration = 0.0
    weights: list[int] = Field(default_factory=lambda: [10, 25, 50, 100])
    pause: Duration = 0.0
    after: list[str] = Field(
        default_factory=list, description="Phases that run after the release steps"
    )
    analysis: list[str] = Field(
        default_factory=list,
        description="Checks (names under 'checks') that watch the canary pauses and the bake; "
        "a failing check rolls the release back",
    )
    compare: Literal["baseline"] | None = Field(
        None, description="Canary only: also compare the canary's values with the stable version's"
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one canary weight, ending with 100")
        if any(not 0 < w <= 100 for w in value):
            raise ValueError("canary weights are percentages between 1 and 100")
        if value != sorted(value):
            raise ValueError("canary weights must increase, e.g. [10, 25, 50, 100]")
        if value[-1] != 100:
            raise ValueError("the last canary weight must be 100 (full promotion)")
        return value

    @model_validator(mode="after")
    def _watched(self) -> ReleaseSpec:
        watched = self.bake > 0 or (self.strategy == "canary" and self.pause > 0)
        if self.analysis and not watched:
            where = "pause or bake" if self.strategy == "canary" else "bake"
            raise ValueError(
                f"analysis needs time to watch: give the release a {where} duration (e.g. bake: 5m)"
            )
        if self.compare is not None:
            if self.strategy != "canary" or self.pause <= 0:
                raise ValueError("compare: baseline needs strategy: canary with a pause")
            if not self.analysis:
                raise ValueError("compare: baseline needs analysis: [checks] to compare")
        return self
