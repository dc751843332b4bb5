"""Recreate: stop the old version, then start the new one. Simple, with downtime by design.

For services that cannot run two versions at once (exclusive locks, singleton consumers).
``plan`` says so; use blue_green or canary when users must not notice.
"""

from __future__ import annotations

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step
from runwright.strategies.base import NEW, OLD, Expansion, bake, step, weights


class Recreate:
    name = "recreate"

    def expand(self, release: ReleaseSpec, smoke: list[Step]) -> list[Expansion]:
        restart_old = step(
            "start previous version again",
            "service",
            {"action": "start", "version": OLD, "route": True},
        )
        out = [
            Expansion(
                "release",
                step(
                    "stop previous version (downtime starts)",
                    "service",
                    {"action": "retire", "keep": NEW, "after": 0},
                    undo=restart_old,
                ),
            ),
            Expansion(
                "release",
                step(
                    "start new version",
                    "service",
                    {"action": "start", "version": NEW},
                    undo=step("stop new version", "service", {"action": "stop", "version": NEW}),
                ),
            ),
            Expansion("release", weights(100)),
        ]
        out += [Expansion("smoke", s) for s in smoke]
        out += [Expansion("bake", s) for s in bake(release)]
        return out


STRATEGY = Recreate()
