"""The Strategy contract: a release recipe that expands into plain steps, with no I/O.

Strategies only build ``Step`` values (kinds ``service``, ``traffic``, ``wait`` and the
runbook's own smoke steps), so ``plan`` shows exactly what a release will do, and the engine
journals, retries, resumes and undoes them like any other step. Every generated step that
changes the world is idempotent (ensure running, set weights), which is what lets a release
killed mid-switch resume safely; every one that raises the new version has an undo that puts
traffic back on the previous version first and stops the new one after. Time a release
spends watching (canary pauses, the bake) is a ``wait`` under the release's ``analysis``
checks, so a failing check fails that step and the undos roll the release back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step

NEW = "{{ version }}"
OLD = "{{ previous_version }}"


@dataclass(frozen=True)
class Expansion:
    phase: str
    step: Step


class Strategy(Protocol):
    name: str

    def expand(self, release: ReleaseSpec, smoke: list[Step]) -> list[Expansion]:
        """The release's steps, in order."""
        ...


def step(
    name: str,
    kind: str,
    params: dict[str, Any],
    *,
    undo: Step | None = None,
    idempotent: bool = True,
    timeout: float | None = None,
) -> Step:
    return Step(
        name=name, kind=kind, params=params, undo_step=undo, idempotent=idempotent, timeout=timeout
    )


def start_new() -> Step:
    return step(
        "start new version",
        "service",
        {"action": "start", "version": NEW},
        undo=step("stop new version", "service", {"action": "stop", "version": NEW}),
    )


def weights(new: int) -> Step:
    params = {"weights": {NEW: new, OLD: 100 - new}}
    name = "switch traffic" if new == 100 else f"canary {new}%"
    back = step("traffic back to previous", "traffic", {"weights": {OLD: 100, NEW: 0}})
    return step(name, "traffic", params, undo=back)


def watch(
    name: str, duration: float, reason: str, release: ReleaseSpec, *, compare: bool = False
) -> Step:
    """A wait of ``duration``, under the release's analysis when it names checks.

    A canary pause (``compare``) holds a share of traffic beside the stable version; on a
    first release there is no stable version, so the pause is skipped. Elsewhere (a bake) the
    stable version takes no traffic, so nothing is compared with it (``compare: none``)."""
    params: dict[str, Any] = {"duration": duration, "reason": reason}
    if compare:
        params["beside"] = OLD
    if release.analysis:
        params["analysis"] = list(release.analysis)
        if compare and release.compare:
            params["compare"] = release.compare
        elif not compare:
            params["compare"] = "none"
    return step(name, "wait", params)


def bake(release: ReleaseSpec) -> list[Step]:
    if release.bake <= 0:
        return []
    return [watch("bake", release.bake, "bake under watch", release)]


def retire(release: ReleaseSpec) -> Step:
    return step(
        "retire previous version",
        "service",
        {"action": "retire", "keep": NEW, "after": release.keep_previous},
    )
