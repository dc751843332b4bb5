"""Environment policies checked before a run starts: windows, freezes, promotion order, and
what a rollback needs from people (an environment's ``rollback:`` rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runwright.app.runtime.product import parse
from runwright.engine.store import Store
from runwright.errors import InputError, PolicyBlocked
from runwright.model.loader import Runbook
from runwright.model.schema import DAYS, Approvals, Environment


def check_windows(env_name: str, env: Environment, now: datetime) -> None:
    for freeze in env.freezes:
        start = freeze.from_
        end = freeze.to
        start_dt = datetime.combine(start, time.min, now.tzinfo) if type(start) is date else start
        end_dt = datetime.combine(end, time.max, now.tzinfo) if type(end) is date else end
        assert isinstance(start_dt, datetime)
        assert isinstance(end_dt, datetime)
        if start_dt.tzinfo is None:
            start_dt = start_dt.replace(tzinfo=now.tzinfo)
        if end_dt.tzinfo is None:
            end_dt = end_dt.replace(tzinfo=now.tzinfo)
        if start_dt <= now <= end_dt:
            raise PolicyBlocked(
                f"{env_name} is frozen from {start} to {end}"
                + (f" ({freeze.reason})" if freeze.reason else ""),
                hint="deploy after the freeze, or change the runbook's freezes with a review",
            )
    if not env.windows:
        return
    for window in env.windows:
        try:
            local = now.astimezone(ZoneInfo(window.timezone))
        except ZoneInfoNotFoundError:
            raise InputError(
                f"unknown timezone '{window.timezone}' in {env_name} windows",
                hint="use an IANA name such as Europe/Berlin or UTC",
            ) from None
        day = DAYS[local.weekday()]
        if day in window.days and window.start <= local.time().replace(tzinfo=None) <= window.end:
            return
    described = "; ".join(
        f"{','.join(w.days)} {w.start.strftime('%H:%M')}-{w.end.strftime('%H:%M')} {w.timezone}"
        for w in env.windows
    )
    raise PolicyBlocked(
        f"outside {env_name}'s deployment windows ({described})", hint="deploy inside a window"
    )


def check_promotion(
    store: Store, runbook: Runbook, env_name: str, env: Environment, version: str
) -> None:
    if not env.requires:
        return
    if runbook.services:
        _check_product_promotion(store, runbook, env_name, env.requires, version)
        return
    # A success counts only as the audit chain proves it (its sealed revision), never as a
    # status column says: a row edited by hand must not open production.
    for revision in store.revisions(runbook.name, env.requires):
        if revision.version == version and store.run(revision.run_id).kind == "deploy":
            return
    raise PolicyBlocked(
        f"{env_name} requires version {version} to have succeeded in {env.requires} first",
        hint=f"runwright deploy {runbook.file} -e {env.requires} --version {version}",
    )


@dataclass(frozen=True)
class RollbackScope:
    """A rollback run: the revision it goes back to, and whether that is the previous one
    (the revision ``rollback`` picks by default)."""

    revision: int
    to_previous: bool
    schema: Mapping[str, Any] | None = None
    """Where the target revision left each migration's schema (None: it recorded none)."""
    schema_now: Mapping[str, Any] = field(default_factory=dict)
    """Where the current revision left them."""


def rollback_approvals(env: Environment, scope: RollbackScope) -> Approvals | None:
    """The approvals a rollback needs by the environment's ``rollback:`` rules (None: none).

    To the previous revision: ``rollback.approvals`` (default 0, so an emergency rollback
    waits on nobody). To an older one: ``rollback.approvals_to_earlier``, by default as many as
    a deploy needs. Who may approve and for how long is the deploy's policy."""
    rules = env.rollback
    if scope.to_previous:
        required = rules.approvals
    elif rules.approvals_to_earlier is not None:
        required = rules.approvals_to_earlier
    else:
        required = env.approvals.required if env.approvals is not None else 0
    if required == 0:
        return None
    if env.approvals is None:
        return Approvals(required=required)
    return env.approvals.model_copy(update={"required": required})


def _check_product_promotion(
    store: Store, runbook: Runbook, env_name: str, required: str, version: str
) -> None:
    """A product's promotion rule, service by service: each version asked for must be part of
    a revision a deploy left in ``required`` (proven by its sealed revision, as for one)."""
    default, named = parse(runbook, version)
    wanted = {n: named.get(n) or default for n in runbook.services if named.get(n) or default}
    proven: set[tuple[str, str]] = set()
    for revision in store.revisions(runbook.name, required):
        held = revision.state.get("versions")
        if isinstance(held, dict) and store.run(revision.run_id).kind == "deploy":
            proven |= {(str(n), str(v)) for n, v in held.items()}
    missing = [f"{n} {v}" for n, v in wanted.items() if (n, v) not in proven]
    if missing:
        raise PolicyBlocked(
            f"{env_name} requires {', '.join(missing)} to have succeeded in {required} first",
            hint=f"runwright deploy {runbook.file} -e {required} --version {version}",
        )
