"""Blue-green: start green beside blue, prove it, switch all traffic at once, bake, retire blue.

Users never reach green before its health and smoke checks pass; after the switch, blue
stays warm for ``keep_previous`` so going back is a traffic change, not a redeploy. The bake
runs under the release's ``analysis`` checks: a failing check switches traffic back to blue.
"""

from __future__ import annotations

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step
from runwright.strategies.base import Expansion, bake, retire, start_new, weights


class BlueGreen:
    name = "blue_green"

    def expand(self, release: ReleaseSpec, smoke: list[Step]) -> list[Expansion]:
        out = [Expansion("release", start_new())]
        out += [Expansion("smoke", s) for s in smoke]
        out.append(Expansion("release", weights(100)))
        out += [Expansion("bake", s) for s in bake(release)]
        out.append(Expansion("release", retire(release)))
        return out


STRATEGY = BlueGreen()
