"""``runwright demo``: renders the demo's live traffic view and its closing summary."""

from __future__ import annotations

import os
import sys
import time

import click

from runwright.app.demo import run_demo
from runwright.app.runtime.settings import Settings
from runwright.cli import edge
from runwright.cli.render import ConsoleObserver
from runwright.loadgen import LoadSnapshot
from runwright.model.status import RunStatus


class TrafficView:
    """Every ~2 s: requests/s, each version's share of the last interval, failures so far."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.last_at = 0.0
        self.prev: LoadSnapshot | None = None

    def __call__(self, snap: LoadSnapshot) -> None:
        now = time.monotonic()
        if now - self.last_at < self.every:
            return
        prev = self.prev
        self.prev, self.last_at = snap, now
        if prev is None:
            return
        dt = snap.elapsed - prev.elapsed
        if dt <= 0:
            return
        done = snap.requests - prev.requests
        by_version = {v: n - prev.versions.get(v, 0) for v, n in snap.versions.items()}
        total = sum(n for n in by_version.values() if n > 0) or 1
        split = "  ".join(
            f"{v} {100 * n / total:.0f}%" for v, n in sorted(by_version.items()) if n > 0
        )
        click.echo(
            f"     traffic: {done / dt:,.0f} req/s  [{split or '-'}]  "
            f"failed so far: {snap.failures}",
            err=True,
        )


def demo_command(settings: Settings, router: str, keep_running: bool) -> int:
    if router == "haproxy" and not _which("haproxy"):
        click.echo("error: haproxy is not installed (hint: scripts/setup installs it)", err=True)
        return 2
    observer = ConsoleObserver(show_output=False)
    result = edge.run(
        run_demo(
            settings,
            router=router,
            observer=observer,
            say=lambda text: click.echo(text, err=True),
            on_traffic=TrafficView(),
            keep_running=keep_running,
        )
    )
    out = sys.stdout
    print("\n== runwright demo: summary", file=out)
    for r in result.releases:
        run = r.run
        line = f"  {r.version}: {run.status if run else 'not run'}"
        line += " (as expected)" if r.as_expected else f" (EXPECTED {r.expect})"
        if run and run.failure and run.status != RunStatus.SUCCEEDED:
            line += f"\n      why: {run.failure}"
        if r.rollback_seconds is not None:
            line += f"\n      time from the failed step to rolled back: {r.rollback_seconds:.2f}s"
        if r.version == result.faulty and r.answered:
            line += (
                f"\n      the fault it injected: {r.failed_requests} of the {r.answered} "
                "user requests it answered failed"
            )
        if r.restored_seconds is not None:
            line += (
                f"\n      time from fault to traffic restored: {r.restored_seconds:.2f}s "
                "(its first failed request to its last answer)"
            )
        print(line, file=out)
    share = ", ".join(f"{v}: {n}" for v, n in sorted(result.versions.items()))
    print(f"  user requests through the router: {result.requests} ({share or 'none'})", file=out)
    if result.faulty:
        print(
            f"  failed user requests: {result.unexpected_failures}, besides the "
            f"{result.faulty_failures} failed on purpose by the faulty canary {result.faulty}",
            file=out,
        )
    else:
        print(f"  failed user requests: {result.failures}", file=out)
    state = result.state_dir
    print("\n  see what happened:", file=out)
    for r in result.releases:
        if r.run:
            print(
                f"    runwright --state-dir {state} report {r.run.id}     # {r.version}", file=out
            )
    print(f"    runwright --state-dir {state} history", file=out)
    if keep_running:
        print(
            f"\n  still serving at {result.url} (stop: rerun the demo, or kill the processes)",
            file=out,
        )
    print(f"\n  demo {'passed' if result.ok else 'FAILED'}", file=out)  # not a status
    return 0 if result.ok else 1


def _which(binary: str) -> bool:
    return any(
        os.access(os.path.join(p, binary), os.X_OK)
        for p in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]
    )
