"""A product's release and rollback: three services started in parallel vs one after another,
and the time from the verdict on a failing frontend to every service restored.

Set-up, all on 127.0.0.1 with real processes: three demo services (backend, frontend, worker),
the backend and the frontend each behind its own built-in router, the worker with none.

Part 1, release time. The same product twice, every service blue-green: once with the
frontend and the worker both ``after: [backend]`` and the frontend and worker independent of
each other ("parallel": the backend starts, then frontend and worker start at the same time),
and once with ``after:`` chaining all three ("sequential": backend, then frontend, then
worker). Per trial, a release to a new version; printed: the time the start steps took (from
the journal) and the whole release, median over ``--trials``.

Part 2, restoring the set. The frontend is a canary (20%, a pause under a sequential check of
its failed requests against the stable version's, judged as its router counts them), the
backend and the worker are blue-green and move first; load comes from a ``runwright.loadgen``
process through the frontend's router. Per trial, a release whose frontend fails 20% of its
requests: "verdict" is the frontend's pause failing (``step.failed``, journaled); then, from
the journal, the time until the last service's traffic is back on its previous version
(``undo.succeeded`` of the backend's switch, the last traffic undo) and until the run ended
with every new instance stopped. The bar (DESIGN.md): every service of a release back on its
previous version within 100 ms of the verdict.

    PYTHONPATH=src python benchmarks/product_release.py [--trials 3] [--json]

The machine's load average is printed at the start and the end: the figures depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.store import EventRow

BAR_SECONDS = 0.1
COMMAND = "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _router() -> dict[str, str]:
    return {"listen": f"127.0.0.1:{free_port()}", "admin": f"127.0.0.1:{free_port()}"}


def product(name: str, *, chained: bool, canary: bool) -> dict[str, Any]:
    """The benchmark's product: ``chained`` starts the three one after another; ``canary``
    makes the frontend a canary under a sequential check (part 2)."""
    frontend_release: dict[str, Any] = {"strategy": "blue_green"}
    if canary:
        frontend_release = {
            "strategy": "canary",
            "weights": [20, 100],
            "pause": "20s",
            "analysis": ["frontend-errors"],
        }
    frontend_command = COMMAND + " --error-rate {{ frontend_error_rate }} --seed {{ run_id }}"
    return {
        "name": name,
        "vars": {"python": sys.executable, "frontend_error_rate": 0},
        "environments": {"local": {}},
        "checks": {"frontend-errors": {"provider": "router", "method": "sequential"}},
        "services": {
            "backend": {
                "command": COMMAND,
                "router": _router(),
                "release": {"strategy": "blue_green"},
            },
            "frontend": {
                "after": ["backend"],
                "command": frontend_command,
                "router": _router(),
                "release": frontend_release,
            },
            "worker": {
                "after": ["frontend" if chained else "backend"],
                "command": COMMAND,
                "release": {"strategy": "blue_green"},
            },
        },
    }


def _seconds(a: Any, b: Any) -> float:
    return float((b - a).total_seconds())


def start_time(rt: Runtime, run_id: int) -> float:
    """Seconds the run's start steps took, from their journaled start and end."""
    steps = [s for s in rt.store.steps(run_id) if s.name.startswith("start new version")]
    return sum(_seconds(s.started_at, s.finished_at) for s in steps if s.finished_at)


def release_times(rt: Runtime, path: Path, trials: int) -> dict[str, float]:
    run = asyncio.run(runs.deploy(rt, path, "local", "v1"))
    assert run.status == "succeeded", run.failure
    starts, totals = [], []
    for n in range(trials):
        began = time.monotonic()
        run = asyncio.run(runs.deploy(rt, path, "local", f"v{n + 2}"))
        totals.append(time.monotonic() - began)
        assert run.status == "succeeded", run.failure
        starts.append(start_time(rt, run.id))
    return {"start_median": statistics.median(starts), "release_median": statistics.median(totals)}


def _first(events: list[EventRow], type_: str, step: str) -> Any:
    return next((e.at for e in events if e.type == type_ and e.step == step), None)


def restore_trial(rt: Runtime, path: Path, version: str) -> dict[str, Any]:
    run = asyncio.run(
        runs.deploy(rt, path, "local", version, overrides={"frontend_error_rate": "0.2"})
    )
    events = rt.store.events(run.id)
    verdict = _first(events, "step.failed", "frontend: pause at 20%")
    traffic = [
        e.at
        for e in events
        if e.type == "undo.succeeded" and str(e.step).endswith("switch traffic")
    ] + [e.at for e in events if e.type == "undo.succeeded" and "canary" in str(e.step)]
    ended = next(e.at for e in events if e.type == "run.finished")
    if verdict is None or not traffic:
        return {"version": version, "status": run.status, "traffic": None, "ended": None}
    return {
        "version": version,
        "status": run.status,
        "traffic": _seconds(verdict, max(traffic)),
        "ended": _seconds(verdict, ended),
    }


def _load(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright.loadgen", url, "--duration", "3600"]
        + ["--connections", "4", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def _teardown(rt: Runtime, path: Path) -> None:
    book = rt.load(path)
    services = rt.step_services(book, "local")
    for unit in services.units.values():
        for inst in await unit.driver.instances(unit.service.name):
            await unit.driver.stop(inst, 3.0)
        stop = getattr(unit.router, "stop", None)
        if stop is not None:
            await stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    state = Path(tempfile.mkdtemp(prefix="rw-bench-product-"))
    settings = Settings(
        state_dir=state, database_url=f"sqlite:///{state / 'runwright.db'}", user="bench"
    )
    rt = Runtime.open(settings)
    books = {
        "parallel": product("par", chained=False, canary=False),
        "sequential": product("seq", chained=True, canary=False),
    }
    paths = {}
    for key, book in books.items():
        paths[key] = state / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(book, sort_keys=False))
    load = None
    try:
        timing = {k: release_times(rt, paths[k], args.trials) for k in ("parallel", "sequential")}
        # its routers' ports are picked now: the services started above hold ports of their own
        books["restore"] = product("restore", chained=False, canary=True)
        paths["restore"] = state / "restore.yaml"
        paths["restore"].write_text(yaml.safe_dump(books["restore"], sort_keys=False))
        first = asyncio.run(runs.deploy(rt, paths["restore"], "local", "v1"))
        assert first.status == "succeeded", first.failure
        frontend = books["restore"]["services"]["frontend"]["router"]["listen"]
        load = _load(f"http://{frontend}/")
        time.sleep(1.0)
        ready = asyncio.run(runs.deploy(rt, paths["restore"], "local", "v2"))
        assert ready.status == "succeeded", ready.failure
        trials = [restore_trial(rt, paths["restore"], f"v{n + 3}") for n in range(args.trials)]
    finally:
        if load is not None:
            load.terminate()
            load.wait(10)
        for path in paths.values():
            asyncio.run(_teardown(rt, path))
        rt.close()
        shutil.rmtree(state, ignore_errors=True)
    report(args, timing, trials, load_before, os.getloadavg())
    return 0


def report(
    args: argparse.Namespace,
    timing: dict[str, dict[str, float]],
    trials: list[dict[str, Any]],
    before: tuple[float, float, float],
    after: tuple[float, float, float],
) -> None:
    traffic = [t["traffic"] for t in trials if t["traffic"] is not None]
    ended = [t["ended"] for t in trials if t["ended"] is not None]
    summary = {
        "load_average_before": before[0],
        "load_average_after": after[0],
        "release": timing,
        "restore_trials": trials,
        "verdict_to_traffic_restored_median": statistics.median(traffic) if traffic else None,
        "verdict_to_traffic_restored_max": max(traffic) if traffic else None,
        "verdict_to_run_ended_median": statistics.median(ended) if ended else None,
        "bar_seconds": BAR_SECONDS,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"load average (1 min): {before[0]:.2f} at the start, {after[0]:.2f} at the end")
    for key, t in timing.items():
        print(
            f"{key:>10}: start steps {t['start_median']:.2f} s, whole release "
            f"{t['release_median']:.2f} s (median of {args.trials})"
        )
    for t in trials:
        shown = (
            f"traffic of every service back {t['traffic'] * 1000:.0f} ms after the verdict, "
            f"run ended (new instances stopped) after {t['ended'] * 1000:.0f} ms"
            if t["traffic"] is not None
            else "no verdict"
        )
        print(f"trial {t['version']:>4}: {t['status']}; {shown}")
    if traffic:
        median = statistics.median(traffic)
        verdict = "MEETS" if median <= BAR_SECONDS else "MISSES"
        print(
            f"verdict -> every service's traffic restored: median {median * 1000:.0f} ms, max "
            f"{max(traffic) * 1000:.0f} ms; bar {BAR_SECONDS * 1000:.0f} ms: {verdict}"
        )


if __name__ == "__main__":
    sys.exit(main())
