"""Canary: start the new version, prove it, then give it a growing share of traffic.

Each weight (10, 25, 50, 100 by default) is held for ``pause`` under watch (the release's
``analysis`` checks, and with ``compare: baseline`` a comparison with the stable version)
before the next; any failure puts all traffic back on the stable version first, then stops
the canary.
"""

from __future__ import annotations

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step
from runwright.strategies.base import Expansion, bake, retire, start_new, watch, weights


class Canary:
    name = "canary"

    def expand(self, release: ReleaseSpec, smoke: list[Step]) -> list[Expansion]:
        out = [Expansion("release", start_new())]
        out += [Expansion("smoke", s) for s in smoke]
        out += steps_up(release)
        out += [Expansion("bake", s) for s in bake(release)]
        out.append(Expansion("release", retire(release)))
        return out


def steps_up(release: ReleaseSpec) -> list[Expansion]:
    """The canary's climb: each weight, held for ``pause`` under watch before the next (a
    product's canary service climbs the same way at its turn)."""
    out: list[Expansion] = []
    for weight in release.weights:
        out.append(Expansion("canary", weights(weight)))
        if weight < 100 and release.pause > 0:
            pause = watch(
                f"pause at {weight}%", release.pause, f"hold at {weight}%", release, compare=True
            )
            out.append(Expansion("canary", pause))
    return out


STRATEGY = Canary()
