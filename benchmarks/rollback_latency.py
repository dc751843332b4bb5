"""Time to restore: from the instant a canary starts failing to 100% of traffic on the stable one.

The bar (DESIGN.md): fault injected -> 100% of traffic on the stable version within
interval x failure_limit + 1 s. Flagger's equivalent is interval x threshold with a 60 s
default interval; the seeds promise a rollback started within 5 minutes.

Set-up, all on 127.0.0.1 with real processes: the demo service, v1 released and stable behind
the builtin router; then, per trial, a canary release of a new version (10% of traffic, a long
pause under a scrape check of the canary's error ratio, ``interval`` 0.5 s, ``failure_limit``
2). A poller sends requests through the router (it is also the only load) and reads
``X-Version``. At a random phase of the check's interval the canary is told to fail every
request (``POST /admin/faults {"error_rate": 1}``): that instant is t0. Restored is when the
router starts answering only with the stable version (the first of 40 answers in a row from
v1: the router picks backends per request on a smooth weighted schedule, so at 10% a canary
answer comes every 10 requests). Printed per trial: detection (t0 to the analysis step
failing, from the run's journal) and restore (t0 to 100% stable), then median and max next
to the bar and to runwright's computed worst case (interval x (failure_limit + 1)).

    PYTHONPATH=src python benchmarks/rollback_latency.py [--trials 10] [--interval 0.5]
        [--provider scrape|router]

``--provider router`` judges the canary by the router's own per-backend counters (what the
demo does) instead of scraping the canary's ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from runwright.app import runs
from runwright.app.runtime import Runtime
from runwright.app.settings import Settings
from runwright.drivers.local import LocalDriver, LocalSettings
from runwright.engine.checks import parse_check, worst_case_abort_seconds
from runwright.steps.router_metrics import ERROR_RATIO as ROUTER_ERROR_RATIO

STREAK = 40
ERROR_RATIO = (
    'rate(demo_requests_total{path="/",status=~"5.."}) / rate(demo_requests_total{path="/"})'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def runbook(
    listen: str, admin: str, interval: float, limit: int, *, watched: bool, provider: str
) -> dict[str, Any]:
    where: dict[str, Any] = (
        {"provider": "scrape", "url": "{{ new_url }}/metrics", "query": ERROR_RATIO}
        if provider == "scrape"
        else {"provider": "router", "query": ROUTER_ERROR_RATIO}
    )
    check = {
        **where,
        "fail_if": "> 5%",
        "interval": interval,
        "failure_limit": limit,
        "no_data": "ignore",
    }
    release: dict[str, Any] = {"strategy": "canary", "weights": [10, 100]}
    if watched:
        release |= {"pause": "60s", "analysis": ["error-rate"]}
    return {
        "name": "bench",
        "vars": {"python": sys.executable},
        "environments": {"local": {}},
        "service": {
            "command": "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}",
            "start_timeout": "20s",
            "stop_timeout": "3s",
            "router": {"kind": "builtin", "listen": listen, "admin": admin},
        },
        "checks": {"error-rate": check},
        "release": release,
    }


class Poller:
    """Requests through the router on one keep-alive connection, recording (time, version)."""

    def __init__(self, listen: str) -> None:
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self.seen: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
                conn.request("GET", "/")
                answer = conn.getresponse()
                answer.read()
                version = answer.getheader("X-Version") or ""
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
                continue
            with self.lock:
                self.seen.append((time.monotonic(), version))
                if len(self.seen) > 200_000:
                    del self.seen[:100_000]

    def since(self, t0: float) -> list[tuple[float, str]]:
        with self.lock:
            return [s for s in self.seen if s[0] >= t0]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)


def canary_port(state_dir: Path, version: str) -> int:
    driver = LocalDriver(LocalSettings(state_dir=state_dir))
    for inst in asyncio.run(driver.instances("bench-local")):
        if inst.version == version:
            return inst.port
    raise LookupError(version)


def inject(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request(
        "POST",
        "/admin/faults",
        body=json.dumps({"error_rate": 1.0}),
        headers={"Content-Type": "application/json"},
    )
    conn.getresponse().read()
    conn.close()


class Trial:
    """Waits for the canary to take traffic, injects the fault, finds when traffic is restored."""

    def __init__(self, poller: Poller, state_dir: Path, version: str, interval: float) -> None:
        self.poller, self.state_dir, self.version = poller, state_dir, version
        self.interval = interval
        self.t0: float | None = None
        self.t0_wall: datetime | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began = time.monotonic()
        deadline = began + 30
        while time.monotonic() < deadline:
            if any(v == self.version for _, v in self.poller.since(began)):
                break
            time.sleep(0.02)
        else:
            self.error = "the canary never took traffic"
            return
        # Let the analysis prime and judge a few healthy readings, at a random phase.
        time.sleep(1.5 + random.uniform(0, self.interval))
        try:
            inject(canary_port(self.state_dir, self.version))
        except (OSError, LookupError) as exc:
            self.error = f"could not inject the fault: {exc!r}"
            return
        self.t0 = time.monotonic()
        self.t0_wall = datetime.now().astimezone()

    def restored_after(self, stable: str) -> float | None:
        if self.t0 is None:
            return None
        run: list[float] = []
        for at, version in self.poller.since(self.t0):
            if version == stable:
                run.append(at)
                if len(run) >= STREAK:
                    return run[0] - self.t0
            else:
                run = []
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5, help="check interval, seconds")
    parser.add_argument("--failure-limit", type=int, default=2)
    parser.add_argument(
        "--provider",
        choices=["scrape", "router"],
        default="scrape",
        help="what the check reads: the canary's /metrics, or the router's counters",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    state = Path(tempfile.mkdtemp(prefix="rw-bench-rollback-"))
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    plain, watched = state / "plain.yaml", state / "canary.yaml"
    for path, is_watched in ((plain, False), (watched, True)):
        book = runbook(
            listen,
            admin,
            args.interval,
            args.failure_limit,
            watched=is_watched,
            provider=args.provider,
        )
        path.write_text(yaml.safe_dump(book, sort_keys=False))
    settings = Settings(
        state_dir=state, database_url=f"sqlite:///{state / 'runwright.db'}", user="bench"
    )
    rt = Runtime.open(settings)
    spec = parse_check(
        "error-rate",
        runbook(
            listen,
            admin,
            args.interval,
            args.failure_limit,
            watched=True,
            provider=args.provider,
        )["checks"]["error-rate"],
    )
    worst = worst_case_abort_seconds(spec)
    bar = args.interval * args.failure_limit + 1.0
    poller = Poller(listen)
    results: list[dict[str, Any]] = []
    try:
        first = runs.deploy(rt, plain, "local", "v1")
        if first.status != "succeeded":
            raise SystemExit(f"v1 did not deploy: {first.failure}")
        poller.start()
        for n in range(args.trials):
            version = f"v{n + 2}"
            trial = Trial(poller, state, version, args.interval)
            trial.thread.start()
            run = runs.deploy(rt, watched, "local", version)
            trial.thread.join(10)
            time.sleep(0.3)
            restore = trial.restored_after("v1")
            events = rt.store.events(run.id)
            failed = next((e for e in events if e.type == "step.failed"), None)
            detect = (
                (failed.at - trial.t0_wall).total_seconds()
                if failed is not None and trial.t0_wall is not None
                else None
            )
            results.append(
                {
                    "version": version,
                    "status": run.status,
                    "detect": detect,
                    "restore": restore,
                    "error": trial.error,
                    "failure": run.failure,
                }
            )
            shown = f"{restore:.3f} s" if restore is not None else "n/a"
            det = f"{detect:.3f} s" if detect is not None else "n/a"
            print(
                f"trial {n + 1:2d} {version:>4}: {run.status:<11} detected after {det}, "
                f"100% on v1 after {shown}" + (f"  ({trial.error})" if trial.error else ""),
                file=sys.stderr,
            )
    finally:
        poller.stop()
        asyncio.run(_teardown(rt, plain))
        rt.close()
        shutil.rmtree(state, ignore_errors=True)
    restores = [r["restore"] for r in results if r["restore"] is not None]
    detects = [r["detect"] for r in results if r["detect"] is not None]
    summary = {
        "trials": len(results),
        "rolled_back": sum(r["status"] == "rolled_back" for r in results),
        "interval_seconds": args.interval,
        "failure_limit": args.failure_limit,
        "bar_seconds": bar,
        "worst_case_abort_seconds": worst,
        "restore_median_seconds": statistics.median(restores) if restores else None,
        "restore_max_seconds": max(restores) if restores else None,
        "detect_median_seconds": statistics.median(detects) if detects else None,
        "detect_max_seconds": max(detects) if detects else None,
        "results": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(
            f"check reads: {args.provider}; time to restore over {len(restores)} of "
            f"{len(results)} trials "
            f"({summary['rolled_back']} rolled back):"
        )
        if restores:
            print(
                f"  fault -> 100% on stable: median {statistics.median(restores):.3f} s, "
                f"max {max(restores):.3f} s"
            )
        if detects:
            print(
                f"  fault -> analysis failed: median {statistics.median(detects):.3f} s, "
                f"max {max(detects):.3f} s"
            )
        print(
            f"  bar: interval x failure_limit + 1 s = {args.interval:g} x "
            f"{args.failure_limit} + 1 = {bar:.3f} s"
        )
        print(f"  runwright's worst case to abort: interval x (failure_limit + 1) = {worst:.3f} s")
        verdict = restores and statistics.median(restores) <= bar
        print(f"  {'MEETS' if verdict else 'MISSES'} the bar (median <= {bar:.3f} s)")
    ok = bool(restores) and len(restores) == len(results) and statistics.median(restores) <= bar
    return 0 if ok else 1


async def _teardown(rt: Runtime, path: Path) -> None:
    book = rt.load(path)
    services = rt.step_services(book, "local")
    for inst in await services["driver"].instances(services["service"].name):
        await services["driver"].stop(inst, 3.0)
    await services["router"].stop()


if __name__ == "__main__":
    sys.exit(main())
