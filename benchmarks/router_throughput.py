"""Throughput and latency of the routers, side by side with the backend alone and with HAProxy.

The bar (DESIGN.md): the builtin router carries >= 15,000 req/s on this 2-core machine, or at
least 40% of HAProxy's figure in the same run, with p99 added latency < 5 ms. One demo service
(``python -m runwright.demo``) is the backend; the same load goes straight to it, through
HAProxy (``HAProxyRouter``) and through the builtin proxy (``BuiltinRouter``), with wrk when it
is installed (no Lua script) and else with ``runwright.loadgen`` in a second process.

    PYTHONPATH=src python benchmarks/router_throughput.py [--duration 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runwright.routers.base import Backend
from runwright.routers.builtin import BuiltinRouter, BuiltinSettings
from runwright.routers.haproxy import HAProxyRouter, HAProxySettings

READY = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def demo(version: str) -> Iterator[int]:
    """A demo service process for ``version``; yields its port, stops it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runwright.demo", "--port", "0", "--version", version],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = READY.search(line)
        if not match:
            raise SystemExit(f"the demo service did not start: {line!r}")
        yield int(match.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * UNITS[match.group(2)]


def run_wrk(url: str, duration: float, connections: int, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    total = re.search(r"(\d+) requests in", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": _ms(pct.get("50", "")),
        "p99_ms": _ms(pct.get("99", "")),
        "requests": int(total.group(1)) if total else 0,
        "failed": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def run_pyload(
    url: str, duration: float, connections: int, requests: int | None = None
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "runwright.loadgen", url, "--duration", f"{duration:g}"]
    argv += ["--connections", str(connections), "--json"]
    if requests:
        argv += ["--requests", str(requests)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    data = json.loads(proc.stdout)
    latency = data.get("latency_ms", {})
    return {
        "rps": data["requests"] / data["elapsed"] if data["elapsed"] else 0.0,
        "p50_ms": latency.get("p50", float("nan")),
        "p99_ms": latency.get("p99", float("nan")),
        "requests": data["requests"],
        "failed": data["failures"],
        "errors": data.get("errors", {}),
        "versions": data.get("versions", {}),
    }


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    if args.tool == "wrk":
        return run_wrk(url, args.duration, args.connections, args.threads)
    return run_pyload(url, args.duration, args.connections)


async def bench(args: argparse.Namespace) -> int:
    results: dict[str, dict[str, Any]] = {}
    with demo("v1") as port, tempfile.TemporaryDirectory() as tmp:
        backend = Backend("v1", "127.0.0.1", port, 100)
        results["direct"] = measure(f"http://127.0.0.1:{port}/", args)
        haproxy_ok = shutil.which("haproxy") is not None
        if haproxy_ok:
            hs = HAProxySettings(state_dir=Path(tmp) / "h", listen=f"127.0.0.1:{free_port()}")
            haproxy = HAProxyRouter(hs)
            await haproxy.ensure_started()
            try:
                await haproxy.apply([backend])
                results["haproxy"] = measure(f"http://{hs.listen}/", args)
            finally:
                await haproxy.stop()
        bs = BuiltinSettings(
            state_dir=Path(tmp) / "b",
            listen=f"127.0.0.1:{free_port()}",
            admin=f"127.0.0.1:{free_port()}",
        )
        builtin = BuiltinRouter(bs)
        await builtin.ensure_started()
        try:
            await builtin.apply([backend])
            results["builtin"] = measure(f"http://{bs.listen}/", args)
            log = (bs.state_dir / "router" / "builtin.log").read_text()
        finally:
            await builtin.stop()
    loop = "uvloop" if "event loop: uvloop" in log else "asyncio"
    print(
        f"load: {args.tool}, {args.connections} connections, {args.duration:g}s each; "
        f"builtin proxy on {loop}"
    )
    print(f"{'target':<10}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'failed':>9}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['rps']:>12,.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['failed']:>9}"
        )
    direct, built = results["direct"], results["builtin"]
    print(f"builtin / direct : {built['rps'] / direct['rps']:.0%} of the throughput")
    print(f"builtin p99 added: {built['p99_ms'] - direct['p99_ms']:.2f} ms")
    verdict = built["rps"] >= 15_000 and built["p99_ms"] - direct["p99_ms"] < 5
    if "haproxy" in results:
        ha = results["haproxy"]
        print(f"builtin / haproxy: {built['rps'] / ha['rps']:.0%} of the throughput")
        print(f"haproxy p99 added: {ha['p99_ms'] - direct['p99_ms']:.2f} ms")
        verdict = verdict or (
            built["rps"] >= 0.4 * ha["rps"] and built["p99_ms"] - direct["p99_ms"] < 5
        )
    print(
        "bar (>= 15,000 req/s or >= 40% of HAProxy, p99 added < 5 ms):",
        "met" if verdict else "NOT met",
    )
    return 0 if verdict else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--tool", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python"
    )
    args = parser.parse_args()
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
