"""``runwright worker`` (claim and drive queued runs) and ``runwright workers`` (who serves the
store). Registered on the main group by ``cli.main``, which hands over its context decorator
and error mapping."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from runwright.app.runs.worker import run_worker
from runwright.cli.edge import run
from runwright.cli.terminal import safe_echo
from runwright.engine.workers import WorkerRow, listing


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM: stop the step in flight (its process group), give the run's lease back so
    another worker takes it over at once, and exit 143."""
    raise SystemExit(143)


def _t(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _state(w: WorkerRow, now: datetime, ttl: float) -> str:
    if w.stopped_at is not None:
        return f"stopped ({w.note})" if w.note else "stopped"
    if now - w.heartbeat_at > timedelta(seconds=ttl):
        return "silent"
    return "alive"


def _as_dict(w: WorkerRow, now: datetime, ttl: float) -> dict[str, Any]:
    return {
        "id": w.id,
        "host": w.host,
        "pid": w.pid,
        "started": w.started_at.isoformat(),
        "heartbeat": w.heartbeat_at.isoformat(),
        "state": _state(w, now, ttl),
        "runs": list(w.runs),
    }


def commands(pass_ctx: Callable[..., Any], handle_errors: Callable[..., Any]) -> list[Any]:
    @click.command("worker")
    @click.option("--poll", default=1.0, show_default=True, type=float,
                  help="Seconds between looks for expired leases (queued runs wake it at once "
                  "on PostgreSQL).")  # fmt: skip
    @click.option("--idle-exit", type=float, default=None,
                  help="Exit 0 after this many seconds with nothing to claim.")  # fmt: skip
    @pass_ctx
    @handle_errors
    def worker(c: Any, poll: float, idle_exit: float | None) -> None:
        """Claim queued runs (runwright deploy --detach) and runs whose driver's lease expired,
        and drive them. Lease TTL: RUNWRIGHT_LEASE_TTL (default 30 s). Exit 3 when another
        worker took a run of this one over (it stops at once and never acts on it again)."""
        if poll <= 0 or (idle_exit is not None and idle_exit < 0):
            raise click.BadParameter("--poll must be > 0 and --idle-exit >= 0")
        rt = c.runtime(quiet=True)
        signal.signal(signal.SIGTERM, _terminate)
        say = lambda text: safe_echo(text, err=True)  # noqa: E731
        sys.exit(run(run_worker(rt, poll=poll, idle_exit=idle_exit, say=say)))

    @click.command("workers")
    @click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
    @pass_ctx
    @handle_errors
    def workers(c: Any, as_json: bool) -> None:
        """List the workers serving this store: host, pid, started, last heartbeat, state
        (alive, silent past the lease TTL, stopped) and the runs each holds."""
        rt = c.runtime(quiet=True)
        now, ttl = rt.clock.now(), rt.settings.lease_ttl
        rows = listing(rt.store)
        if as_json:
            safe_echo(json.dumps([_as_dict(w, now, ttl) for w in rows], indent=2))
            return
        if not rows:
            safe_echo("no workers have served this store (start one: runwright worker)")
            return
        safe_echo(f"{'WORKER':<40} {'HOST':<16} {'PID':>7} {'STARTED':<19} "
                  f"{'HEARTBEAT':<19} {'STATE':<8} RUNS")  # fmt: skip
        for w in rows:
            runs = ",".join(str(r) for r in w.runs) or "-"
            safe_echo(f"{w.id:<40} {w.host:<16} {w.pid:>7} {_t(w.started_at):<19} "
                      f"{_t(w.heartbeat_at):<19} {_state(w, now, ttl):<8} {runs}")  # fmt: skip

    return [worker, workers]
