"""A load generator, so "zero downtime" is something runwright can measure rather than claim.

The demo shows live traffic moving between versions, the tests put load on a service while it
is released, and the benchmarks count failed requests during traffic changes. All of them need
the same thing: N keep-alive HTTP/1.1 connections hammering one URL for a bounded time or
number of requests, counting every failure (connection errors, timeouts, 5xx) and which
version answered (the ``X-Version`` header), with latency percentiles. ``run_load`` does that
in-process (with a live snapshot callback for a progress display); ``python -m
runwright.loadgen URL --duration 10 --json`` does it from a second process.

Like any HTTP client, a request that finds its reused keep-alive connection closed by the
server before a single byte of answer is retried once on a fresh connection (counted in
``stale_retries``, not as a failure); anything else that goes wrong is a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runwright.errors import InputError

MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class LoadSnapshot:
    """Progress so far, for a live display."""

    elapsed: float
    requests: int
    failures: int
    versions: Mapping[str, int]
    failed_by_version: Mapping[str, int] = field(default_factory=dict)
    first_failure: Mapping[str, float] = field(default_factory=dict)
    last_answer: Mapping[str, float] = field(default_factory=dict)
    """Per version: failed answers, and seconds from the start to its first failed answer
    and to its last answer of any kind (a version's failures end when its traffic does)."""

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class LoadResult:
    """What a load run saw. Latencies are of answered requests, in milliseconds."""

    url: str
    connections: int
    elapsed: float
    requests: int
    failures: int
    statuses: Mapping[int, int] = field(default_factory=dict)
    versions: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    stale_retries: int = 0
    latency_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def succeeded(self) -> int:
        return self.requests - self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "connections": self.connections,
            "elapsed": round(self.elapsed, 6),
            "requests": self.requests,
            "failures": self.failures,
            "rate": round(self.rate, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "versions": dict(sorted(self.versions.items())),
            "errors": dict(sorted(self.errors.items())),
            "stale_retries": self.stale_retries,
            "latency_ms": dict(self.latency_ms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        return cls(
            url=str(data["url"]),
            connections=int(data["connections"]),
            elapsed=float(data["elapsed"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            statuses={int(k): int(v) for k, v in data.get("statuses", {}).items()},
            versions={str(k): int(v) for k, v in data.get("versions", {}).items()},
            errors={str(k): int(v) for k, v in data.get("errors", {}).items()},
            stale_retries=int(data.get("stale_retries", 0)),
            latency_ms={str(k): float(v) for k, v in data.get("latency_ms", {}).items()},
        )

    def summary(self) -> str:
        versions = ", ".join(f"{v or '(none)'} {n}" for v, n in sorted(self.versions.items()))
        lat = self.latency_ms
        text = (
            f"{self.requests} requests in {self.elapsed:.1f}s ({self.rate:.0f}/s), "
            f"{self.failures} failed"
        )
        if lat:
            text += (
                f"; latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, "
                f"max {lat['max']:.2f} ms"
            )
        if versions:
            text += f"; by version: {versions}"
        if self.errors:
            text += "; errors: " + ", ".join(f"{k} {n}" for k, n in sorted(self.errors.items()))
        return text


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty list)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class _Failure(Exception):
    def __init__(self, kind: str, stale: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.stale = stale


class _Target:
    def __init__(self, url: str, method: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise InputError(
                f"cannot load {url!r}: give an http:// URL with a host",
                hint="e.g. http://127.0.0.1:8080/",
            )
        self.host = parts.hostname
        try:
            self.port = parts.port or 80
        except ValueError:
            raise InputError(f"cannot load {url!r}: the port is not a number") from None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        netloc = parts.netloc.rpartition("@")[2]
        head = f"{method} {path} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: runwright-loadgen\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = (head + "\r\n").encode("latin-1")
        self.expects_body = method != "HEAD"


class _Run:
    def __init__(self, target: _Target, deadline: float, limit: int | None, timeout: float) -> None:
        self.target = target
        self.deadline = deadline
        self.limit = limit
        self.timeout = timeout
        self.issued = 0
        self.requests = 0
        self.failures = 0
        self.stale_retries = 0
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.failed_by_version: Counter[str] = Counter()
        self.first_failure: dict[str, float] = {}
        self.last_answer: dict[str, float] = {}

    def stop(self) -> None:
        self.deadline = time.monotonic()

    def claim(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        if self.limit is not None:
            if self.issued >= self.limit:
                return False
            self.issued += 1
        return True

    def fail(self, kind: str) -> None:
        self.requests += 1
        self.failures += 1
        self.errors[kind] += 1

    async def worker(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        used = False
        try:
            while self.claim():
                for attempt in (0, 1):
                    try:
                        if writer is None:
                            reader, writer, used = *await self.connect(), False
                        assert reader is not None
                        began = time.perf_counter()
                        status, version, keep = await asyncio.wait_for(
                            self.exchange(reader, writer, used), self.timeout
                        )
                        used = True
                        self.latencies.append(time.perf_counter() - began)
                        self.requests += 1
                        self.statuses[status] += 1
                        self.versions[version] += 1
                        now = time.monotonic()
                        self.last_answer[version] = now
                        if status >= 500:
                            self.failures += 1
                            self.errors[f"http {status}"] += 1
                            self.failed_by_version[version] += 1
                            self.first_failure.setdefault(version, now)
                        if not keep:
                            _close(writer)
                            writer = None
                        break
                    except _Failure as exc:
                        _close(writer)
                        writer = None
                        if exc.stale and attempt == 0:
                            self.stale_retries += 1
                            continue
                        self.fail(exc.kind)
                        await asyncio.sleep(0.005)
                        break
                    except TimeoutError:
                        _close(writer)
                        writer = None
                        self.fail("timeout")
                        break
        finally:
            _close(writer)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), self.timeout
            )
        except TimeoutError:
            raise _Failure("connect timeout") from None
        except OSError as exc:
            raise _Failure(_os_kind("connect", exc)) from None

    async def exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reused: bool
    ) -> tuple[int, str, bool]:
        """Send one request and read its answer: (status, X-Version, keep the connection)."""
        got_any = False
        try:
            writer.write(self.target.request)
            head = await reader.readuntil(b"\r\n\r\n")
            got_any = True
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise _Failure("bad response")
            status = int(parts[1])
            version = ""
            length = -1
            chunked = False
            keep = parts[0] == "HTTP/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "x-version":
                    version = value.strip()
                elif name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif name == "connection":
                    keep = value.strip().lower() != "close" and (
                        keep or value.strip().lower() == "keep-alive"
                    )
            if not self.target.expects_body or status in (204, 304) or 100 <= status < 200:
                return status, version, keep
            if chunked:
                await _read_chunked(reader)
            elif length >= 0:
                await reader.readexactly(length)
            else:
                await reader.read()
                keep = False
            return status, version, keep
        except asyncio.IncompleteReadError as exc:
            stale = reused and not got_any and not exc.partial
            raise _Failure(
                "connection closed" if got_any or exc.partial else "closed before answering",
                stale=stale,
            ) from None
        except asyncio.LimitOverrunError:
            raise _Failure("bad response") from None
        except ValueError:
            raise _Failure("bad response") from None
        except OSError as exc:
            raise _Failure(_os_kind("connection", exc), stale=reused and not got_any) from None


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return
        await reader.readexactly(size + 2)


def _os_kind(what: str, exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"{what} refused"
    if isinstance(exc, ConnectionResetError):
        return f"{what} reset"
    return f"{what} error"


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def run_load(
    url: str,
    *,
    connections: int = 8,
    duration: float | None = None,
    requests: int | None = None,
    request_timeout: float = 5.0,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    on_snapshot: Callable[[LoadSnapshot], None] | None = None,
    snapshot_interval: float = 0.5,
    stop_on_signal: bool = False,
    stop_event: asyncio.Event | None = None,
) -> LoadResult:
    """Put load on ``url`` until ``duration`` seconds pass or ``requests`` were made.

    At least one bound is required; with both, whichever comes first ends the run. Requests
    in flight at the end are awaited (at most ``request_timeout``). Setting ``stop_event``
    (or SIGTERM with ``stop_on_signal``) ends the load early the same way, so every request
    made is counted in the result.
    """
    if duration is None and requests is None:
        raise InputError("give a duration or a number of requests, so the load ends")
    if connections < 1:
        raise InputError("give at least one connection")
    if (duration is not None and duration <= 0) or (requests is not None and requests < 1):
        raise InputError("the duration and the number of requests must be positive")
    target = _Target(url, method, headers or {})
    began = time.monotonic()
    deadline = began + duration if duration is not None else math.inf
    run = _Run(target, deadline, requests, request_timeout)
    if stop_on_signal:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, run.stop)
    workers = [asyncio.create_task(run.worker()) for _ in range(connections)]
    reporter = None
    if on_snapshot is not None:
        reporter = asyncio.create_task(_report(run, began, on_snapshot, snapshot_interval))
    stopper = None
    if stop_event is not None:
        stopper = asyncio.create_task(_stop_when(stop_event, run))
    try:
        await asyncio.gather(*workers)
    finally:
        pending = [t for t in (*workers, reporter, stopper) if t is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - began
    if on_snapshot is not None:
        on_snapshot(_snapshot(run, elapsed, began))
    lat = sorted(run.latencies)
    latency = {}
    if lat:
        latency = {
            "p50": percentile(lat, 0.50) * 1000,
            "p90": percentile(lat, 0.90) * 1000,
            "p99": percentile(lat, 0.99) * 1000,
            "max": lat[-1] * 1000,
            "mean": sum(lat) / len(lat) * 1000,
        }
    return LoadResult(
        url=url,
        connections=connections,
        elapsed=elapsed,
        requests=run.requests,
        failures=run.failures,
        statuses=dict(run.statuses),
        versions=dict(run.versions),
        errors=dict(run.errors),
        stale_retries=run.stale_retries,
        latency_ms=latency,
    )


def _snapshot(run: _Run, elapsed: float, began: float) -> LoadSnapshot:
    return LoadSnapshot(
        elapsed=elapsed,
        requests=run.requests,
        failures=run.failures,
        versions=dict(run.versions),
        failed_by_version=dict(run.failed_by_version),
        first_failure={v: t - began for v, t in run.first_failure.items()},
        last_answer={v: t - began for v, t in run.last_answer.items()},
    )


async def _stop_when(event: asyncio.Event, run: _Run) -> None:
    await event.wait()
    run.stop()


async def _report(
    run: _Run, began: float, callback: Callable[[LoadSnapshot], None], interval: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        callback(_snapshot(run, time.monotonic() - began, began))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runwright.loadgen",
        description="Put HTTP load on a URL and count failures and answering versions.",
    )
    parser.add_argument("url")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds (default 10); SIGTERM or Ctrl-C ends the load early and prints the result",
    )
    parser.add_argument("--requests", type=int, default=None, help="stop after this many")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    duration = args.duration
    if duration is None and args.requests is None:
        duration = 10.0
    try:
        result = asyncio.run(
            run_load(
                args.url,
                connections=args.connections,
                duration=duration,
                requests=args.requests,
                request_timeout=args.timeout,
                stop_on_signal=True,
            )
        )
    except InputError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict()) if args.json else result.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
