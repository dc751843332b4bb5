"""Versions of a product: which version each service gets, and which services a run touches.

``--version v2`` gives every service v2; ``--version backend=v2 --version frontend=v3`` (one
string ``backend=v2,frontend=v3`` once the edges joined them) names them one by one; a bare
version beside named ones is the default of the services not named. A service left out keeps
the version it runs (the live revision's) and is not touched: the run has no step for it, and
its entry in the new revision is the one it had. A revision of a product is the set
``{service: version}``, recorded in the revision's state and in its audited event.

What people read of a product run is built here too, from the same versions: ``plan``'s notes
(order, what starts together, the worst case to restore the set) and the per-service lines of
the report and the run page (how far each service got, whether the rollback undid it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runwright.engine.machine import MAIN
from runwright.engine.store import RevisionRow, StepRow, Store
from runwright.errors import InputError
from runwright.model.durations import format_duration
from runwright.model.loader import Runbook
from runwright.model.product import levels, order
from runwright.model.status import StepStatus, UndoStatus


@dataclass(frozen=True)
class Versions:
    """A product run's versions: the set it leaves (``target``) and the one it found."""

    target: dict[str, str]
    previous: dict[str, str]

    @property
    def touched(self) -> list[str]:
        """The services whose version changes, in dependency order."""
        return [n for n, v in self.target.items() if v != self.previous.get(n, "")]

    def params(self) -> dict[str, Any]:
        return {"versions": dict(self.target), "previous_versions": dict(self.previous)}


def revision_versions(book: Runbook, revision: RevisionRow | None) -> dict[str, str]:
    """The versions of the product's services a revision holds ("" for a service it lacks)."""
    names = order(book.services)
    if revision is None:
        return dict.fromkeys(names, "")
    held = revision.state.get("versions")
    if isinstance(held, Mapping):
        return {n: str(held.get(n, "")) for n in names}
    return dict.fromkeys(names, revision.version)  # a revision from before services:


def parse(book: Runbook, given: str) -> tuple[str | None, dict[str, str]]:
    """The default version and the versions named per service in ``given``."""
    default: str | None = None
    named: dict[str, str] = {}
    for part in (p.strip() for p in given.split(",")):
        if not part:
            continue
        name, sep, version = part.partition("=")
        if not sep:
            if default is not None and default != part:
                raise InputError(
                    f"two versions for every service: {default} and {part}",
                    hint="give one bare --version, and SERVICE=VERSION for the others",
                )
            default = part
            continue
        name, version = name.strip(), version.strip()
        if name not in book.services:
            raise InputError(
                f"--version {part}: {book.name} has no service '{name}'",
                hint="services: " + ", ".join(book.services),
            )
        if not version:
            raise InputError(f"--version {part}: give a version after '='")
        if named.get(name, version) != version:
            raise InputError(f"two versions for service {name}: {named[name]} and {version}")
        named[name] = version
    return default, named


def resolve(book: Runbook, given: str, current: Mapping[str, str]) -> Versions:
    """The versions a run of ``given`` leaves each service on; InputError (exit 2) when a
    version is malformed or a service that never ran is given none."""
    default, named = parse(book, given)
    target: dict[str, str] = {}
    for name in order(book.services):
        version = named.get(name) or default or current.get(name, "")
        if not version:
            raise InputError(
                f"service {name} has never been released here: give it a version",
                hint=f"--version {name}=VERSION, or a bare --version for every service",
            )
        target[name] = version
    return Versions(target, {n: current.get(n, "") for n in target})


def describe(versions: Mapping[str, str]) -> str:
    """``backend v2, frontend v3`` (or ``v2`` when every service has it)."""
    values = set(versions.values())
    if len(values) == 1:
        return next(iter(values))
    return ", ".join(f"{n} {v}" for n, v in versions.items())


@dataclass(frozen=True)
class Prepared:
    """What a run of ``version`` needs from the live revision, for one service or a product."""

    previous: str
    versions: Versions | None = None

    @property
    def touched(self) -> list[str] | None:
        return self.versions.touched if self.versions is not None else None

    def params(self) -> dict[str, Any]:
        return self.versions.params() if self.versions is not None else {}


def prepare(store: Store, book: Runbook, environment: str, version: str) -> Prepared:
    revisions = store.revisions(book.name, environment)
    if not book.services:
        return Prepared(revisions[0].version if revisions else "")
    current = revision_versions(book, revisions[0] if revisions else None)
    versions = resolve(book, version, current)
    return Prepared(describe(versions.previous) if any(current.values()) else "", versions)


def stored(params: Mapping[str, Any]) -> Versions | None:
    """The versions a product run recorded in its parameters (None for one service)."""
    target = params.get("versions")
    if not isinstance(target, Mapping):
        return None
    previous = params.get("previous_versions") or {}
    return Versions(
        {str(k): str(v) for k, v in target.items()},
        {str(k): str(v) for k, v in previous.items()},
    )


def check_versions(book: Runbook, version: str) -> None:
    """Refuse a malformed ``--version`` (each service's against the version pattern)."""
    if not book.services:
        book.check_version(version)
        return
    default, named = parse(book, version)
    for value in [*([default] if default else []), *named.values()]:
        book.check_version(value)


def joined(version: str | Sequence[str], versions: Mapping[str, str] | None = None) -> str:
    """One ``--version`` string from what the edges were given: the CLI's repeated
    ``--version`` values, or the API's ``version`` beside ``versions`` ({service: version})."""
    parts = [version] if isinstance(version, str) else list(version)
    parts += [f"{name}={value}" for name, value in (versions or {}).items()]
    return ",".join(p for p in parts if p)


@dataclass(frozen=True)
class ServiceLine:
    """How far one service of a product run got, for the report and the run page."""

    name: str
    previous: str
    version: str
    reached: str  # the last step of its own that succeeded ("not started")
    rolled_back: bool


def _owns(spec: Mapping[str, Any], name: str) -> bool:
    services = (spec.get("params") or {}).get("services") or []
    return spec.get("service") == name or (isinstance(services, list) and name in services)


def service_lines(params: Mapping[str, Any], steps: Sequence[StepRow]) -> list[ServiceLine]:
    """Each service a product run touched: its versions, the furthest step it reached and
    whether the rollback undid it; a service whose new version never started was not
    rolled back (there was nothing of it to undo)."""
    versions = stored(params)
    if versions is None:
        return []
    out = []
    for name in versions.touched:
        own = [s for s in steps if s.section == MAIN and _owns(s.spec, name)]
        ran = [s for s in own if s.status != StepStatus.PENDING]
        last = ran[-1] if ran else None
        reached = last.name.removeprefix(f"{name}: ") if last else "not started"
        if last is not None and last.status != StepStatus.SUCCEEDED:
            reached += f" ({last.status})"
        undone = any(s.undo_status == UndoStatus.DONE for s in ran)
        out.append(
            ServiceLine(
                name, versions.previous.get(name, ""), versions.target[name], reached, undone
            )
        )
    return out


def plan_notes(book: Runbook, touched: Sequence[str] | None) -> list[str]:
    """What ``plan`` says of a product: its order, what starts at the same time, what is
    left alone, and the worst case to put every touched service back."""
    moved = [n for n in order(book.services) if touched is None or n in touched]
    kept = [n for n in book.services if n not in moved]
    if not moved:
        return ["no service changes version: nothing to release"]
    notes = [
        "services, in order: "
        + ", ".join(f"{n} ({book.services[n].release.strategy})" for n in moved)
        + (f"; not touched (kept on their versions): {', '.join(kept)}" if kept else "")
    ]
    for level in levels(book.services):
        together = [
            n for n in level if n in moved and book.services[n].release.strategy != "recreate"
        ]
        if len(together) > 1:
            notes.append(f"start at the same time: {', '.join(together)}")
    restart = [n for n in moved if book.services[n].release.strategy == "recreate"]
    worst = max((book.services[n].start_timeout for n in restart), default=0.0)
    stops = sum(book.services[n].stop_timeout for n in moved)
    back = ", ".join(reversed(moved))
    why = (
        f" ({', '.join(restart)} restarts its previous version)"
        if restart
        else " (traffic changes only)"
    )
    notes.append(
        f"rollback of the set: traffic back in reverse order ({back}); worst case "
        f"{format_duration(worst) if worst else 'seconds'} to restore every service{why}, "
        f"then new versions stop within {format_duration(stops)}"
    )
    return notes
