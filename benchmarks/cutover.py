"""Failed requests while traffic moves: the zero-downtime bar, for each router in one run.

The bar (DESIGN.md): 0 failed requests of >= 200,000 during >= 50 traffic changes (switches,
canary weight steps, rollbacks) under load, builtin router and HAProxy; naive HAProxy weight
flips failed ~3% of requests here. Two demo services (v1, v2) sit behind each router in turn;
a second process (``runwright.loadgen``) sends ``--requests`` requests over keep-alive
connections while the controller cycles through switches, canary steps and rollbacks every
``--interval`` seconds, at least ``--changes`` of them, until the load ends. The run is bounded
by ``--max-seconds`` per router. ``--routers naive-haproxy`` adds, for comparison (not judged),
the naive flips: weights set one at a time, the old side lowered first.

    PYTHONPATH=src python benchmarks/cutover.py [--requests 200000] [--changes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from router_throughput import demo, free_port  # noqa: E402

from runwright.routers.base import Backend, Router  # noqa: E402
from runwright.routers.builtin import BuiltinRouter, BuiltinSettings  # noqa: E402
from runwright.routers.haproxy import HAProxyRouter, HAProxySettings  # noqa: E402

# (v1, v2) weights: a blue-green switch, a canary 10 -> 25 -> 50 -> 100, and rollbacks.
CYCLE = [(0, 100), (100, 0), (90, 10), (75, 25), (50, 50), (0, 100), (100, 0), (50, 50), (100, 0)]


class NaiveHAProxy(HAProxyRouter):
    """The flips that failed ~3% here: weights set one by one, old side lowered first."""

    async def apply(self, backends: Sequence[Backend]) -> None:
        slots = {s.name: s for s in self.load_slots() if s.name}
        if len(slots) < len(backends):
            await super().apply(backends)
            return
        for b in sorted(backends, key=lambda b: b.weight):
            await self.command(f"set server be_app/{slots[b.name].server} weight {b.weight}")


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runwright.loadgen", url,
        "--requests", str(args.requests),
        "--duration", f"{args.max_seconds:g}",
        "--connections", str(args.connections),
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    result: dict[str, Any] = json.loads(out)
    return result


async def run_router(
    name: str, router: Router, url: str, ports: Sequence[int], args: argparse.Namespace
) -> dict[str, Any]:
    def table(w1: int, w2: int) -> list[Backend]:
        return [
            Backend("v1", "127.0.0.1", ports[0], w1),
            Backend("v2", "127.0.0.1", ports[1], w2),
        ]

    await router.ensure_started()
    await router.apply(table(100, 0))
    task = asyncio.create_task(load(url, args))
    changes, slowest = 0, 0.0
    await asyncio.sleep(0.3)
    while not task.done() or changes < args.changes:
        if task.done():
            break
        began = time.perf_counter()
        await router.apply(table(*CYCLE[changes % len(CYCLE)]))
        slowest = max(slowest, time.perf_counter() - began)
        changes += 1
        await asyncio.sleep(args.interval)
    result = await task
    counters = await router.counters()
    return {
        "router": name,
        "requests": result["requests"],
        "failed": result["failures"],
        "errors": result.get("errors", {}),
        "versions": result.get("versions", {}),
        "changes": changes,
        "slowest_change_ms": slowest * 1000,
        "rps": result["requests"] / result["elapsed"],
        "router_failures": sum(c.failures for c in counters.values()),
    }


async def bench(args: argparse.Namespace) -> int:
    rows = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        ports = [stack.enter_context(demo("v1")), stack.enter_context(demo("v2"))]
        kinds = [k for k in args.routers if "haproxy" not in k or shutil.which("haproxy")]
        for kind in kinds:
            state, listen = Path(tmp) / kind, f"127.0.0.1:{free_port()}"
            haproxy = HAProxySettings(state_dir=state, listen=listen)
            router: HAProxyRouter | BuiltinRouter
            if kind == "builtin":
                admin = f"127.0.0.1:{free_port()}"
                router = BuiltinRouter(BuiltinSettings(state_dir=state, listen=listen, admin=admin))
            elif kind == "naive-haproxy":
                router = NaiveHAProxy(haproxy)
            else:
                router = HAProxyRouter(haproxy)
            try:
                rows.append(await run_router(kind, router, f"http://{listen}/", ports, args))
            finally:
                await router.stop()
    print(
        f"load: runwright.loadgen, {args.connections} keep-alive connections, "
        f"{args.requests:,} requests per router; a change every {args.interval:g}s"
    )
    print(
        f"{'router':<14}{'requests':>10}{'failed':>8}{'changes':>9}{'req/s':>9}"
        f"{'slowest change':>16}  versions"
    )
    ok = True
    for r in rows:
        versions = ", ".join(f"{k} {v:,}" for k, v in sorted(r["versions"].items()))
        print(
            f"{r['router']:<14}{r['requests']:>10,}{r['failed']:>8}{r['changes']:>9}"
            f"{r['rps']:>9,.0f}{r['slowest_change_ms']:>13.1f} ms  {versions}"
        )
        if r["errors"]:
            print(f"         errors: {r['errors']}")
        if r["router"] == "naive-haproxy":
            continue
        ok = ok and r["failed"] == 0 and r["changes"] >= args.changes
        ok = ok and r["requests"] >= args.requests
    print(
        f"bar (0 failed of >= {args.requests:,} requests during >= {args.changes} traffic "
        "changes, each router):",
        "met" if ok else "NOT met",
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="per router")
    parser.add_argument("--changes", type=int, default=50, help="at least this many per router")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between changes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap per router")
    parser.add_argument(
        "--routers",
        nargs="+",
        default=["haproxy", "builtin"],
        choices=("haproxy", "builtin", "naive-haproxy"),
        help="naive-haproxy: weights flipped one by one, lowering first (for comparison)",
    )
    args = parser.parse_args()
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
