"""The sample HTTP service that ``runwright demo``, examples, tests and benchmarks deploy.

It has to behave like a real service under a release: it reports its version on every response
(``X-Version``) so a load generator can tell which side answered, exposes Prometheus metrics an
analysis can judge, lets a test or the demo inject faults at run time (error rate, latency,
failing health) and shuts down gracefully on SIGTERM, finishing requests in flight. It is also
the backend of the router benchmark, so it is written on ``asyncio.Protocol`` with keep-alive
and pipelining rather than on ``http.server``. It imports nothing else of runwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SYSTEM_PATHS = frozenset({"/health", "/version", "/metrics", "/admin/faults"})
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Config:
    """How to run the service; ``port=0`` picks a free port (reported in the ready line)."""

    host: str = "127.0.0.1"
    port: int = 8000
    version: str = "v1"
    error_rate: float = 0.0
    latency_ms: float = 0.0
    fail_health: bool = False
    seed: int = 0
    drain_seconds: float = 0.9
    upstream: str = ""
    """A service this one calls on every request to ``/`` (``http://HOST:PORT``), like a
    frontend calling its backend: its answer names the upstream's version, and a failed
    upstream call is a 502."""


class Faults:
    """Faults injected into application requests; changed at run time via ``/admin/faults``."""

    def __init__(self, error_rate: float, latency_ms: float, fail_health: bool) -> None:
        self.error_rate = 0.0
        self.latency_ms = 0.0
        self.fail_health = False
        self.update(
            {"error_rate": error_rate, "latency_ms": latency_ms, "fail_health": fail_health}
        )

    def update(self, data: Any) -> None:
        """Apply the keys given; raise ValueError with a readable message on a bad value."""
        if not isinstance(data, dict):
            raise ValueError('send a JSON object such as {"error_rate": 0.2}')
        unknown = sorted(set(data) - {"error_rate", "latency_ms", "fail_health"})
        if unknown:
            raise ValueError(
                f"unknown fault {unknown[0]!r}: use error_rate, latency_ms, fail_health"
            )
        rate, latency, health = self.error_rate, self.latency_ms, self.fail_health
        if "error_rate" in data:
            rate = _number(data["error_rate"], "error_rate")
            if not 0.0 <= rate <= 1.0:
                raise ValueError("error_rate is a share between 0 and 1, e.g. 0.2")
        if "latency_ms" in data:
            latency = _number(data["latency_ms"], "latency_ms")
            if not 0.0 <= latency <= 60_000:
                raise ValueError("latency_ms is between 0 and 60000")
        if "fail_health" in data:
            if not isinstance(data["fail_health"], bool):
                raise ValueError("fail_health is true or false")
            health = data["fail_health"]
        self.error_rate, self.latency_ms, self.fail_health = rate, latency, health

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "fail_health": self.fail_health,
        }


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Request counters and a latency histogram, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, path: str, status: int, seconds: float) -> None:
        key = (path, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.buckets.get(path)
        if counts is None:
            counts = self.buckets[path] = [0] * (len(BUCKETS) + 1)
            self.sums[path] = 0.0
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[path] += seconds

    def render(self, version: str, faults: Faults, in_flight: int) -> str:
        out = [
            "# HELP demo_requests_total Requests answered, by path and status code.",
            "# TYPE demo_requests_total counter",
        ]
        for (path, status), count in sorted(self.requests.items()):
            out.append(f'demo_requests_total{{path="{_label(path)}",status="{status}"}} {count}')
        out += [
            "# HELP demo_request_duration_seconds Time from request to response.",
            "# TYPE demo_request_duration_seconds histogram",
        ]
        name = "demo_request_duration_seconds"
        for path, counts in sorted(self.buckets.items()):
            p = _label(path)
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'{name}_bucket{{path="{p}",le="{le}"}} {running}')
            out.append(f'{name}_sum{{path="{p}"}} {self.sums[path]!r}')
            out.append(f'{name}_count{{path="{p}"}} {running}')
        out += [
            "# HELP demo_info The version this process serves.",
            "# TYPE demo_info gauge",
            f'demo_info{{version="{_label(version)}"}} 1',
            "# HELP demo_in_flight_requests Requests being answered now.",
            "# TYPE demo_in_flight_requests gauge",
            f"demo_in_flight_requests {in_flight}",
            "# HELP demo_fault_error_rate Share of requests failed on purpose.",
            "# TYPE demo_fault_error_rate gauge",
            f"demo_fault_error_rate {faults.error_rate!r}",
            "# HELP demo_fault_latency_seconds Latency added on purpose.",
            "# TYPE demo_fault_latency_seconds gauge",
            f"demo_fault_latency_seconds {faults.latency_ms / 1000.0!r}",
            "# HELP demo_fault_health_failing 1 when /health answers 503 on purpose.",
            "# TYPE demo_fault_health_failing gauge",
            f"demo_fault_health_failing {int(faults.fail_health)}",
        ]
        return "\n".join(out) + "\n"


class DemoApp:
    """The state shared by every connection: version, faults, metrics, open connections."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.version = config.version
        self.faults = Faults(config.error_rate, config.latency_ms, config.fail_health)
        self.metrics = Metrics()
        self.rng = random.Random(config.seed)
        self.connections: set[HttpConnection] = set()
        self.in_flight = 0
        self.upstream = config.upstream
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.all_closed = asyncio.Event()
        self.started_at = time.time()
        self._version_header = f"X-Version: {config.version}\r\n".encode("latin-1", "replace")
        self._hello = self.response(
            200, f"hello from {config.version}\n".encode(), "text/plain", keep_alive=True
        )

    def response(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        keep_alive: bool,
        head: bool = False,
        extra: str = "",
    ) -> bytes:
        reason = REASONS.get(status, "Unknown")
        lines = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}"
        )
        if not keep_alive:
            lines += "Connection: close\r\n"
        out = lines.encode("latin-1") + self._version_header + b"\r\n"
        return out if head else out + body

    def hello(self, keep_alive: bool, head: bool) -> bytes:
        if keep_alive and not head:
            return self._hello
        return self.response(
            200,
            f"hello from {self.version}\n".encode(),
            "text/plain",
            keep_alive=keep_alive,
            head=head,
        )

    def json(self, status: int, data: Any, keep_alive: bool, head: bool) -> bytes:
        body = (json.dumps(data) + "\n").encode()
        return self.response(status, body, "application/json", keep_alive=keep_alive, head=head)

    def system(self, method: str, path: str, body: bytes) -> tuple[int, Any, str]:
        """Answer a system path: (status, JSON data or metrics text, content type)."""
        if path == "/metrics":
            text = self.metrics.render(self.version, self.faults, self.in_flight)
            return 200, text, "text/plain; version=0.0.4"
        if path == "/health":
            if self.faults.fail_health or self.closing:
                return 503, {"status": "failing", "version": self.version}, ""
            return 200, {"status": "ok", "version": self.version}, ""
        if path == "/version":
            return (
                200,
                {"version": self.version, "pid": os.getpid(), "started_at": self.started_at},
                "",
            )
        if method == "POST":
            try:
                self.faults.update(json.loads(body or b"null"))
            except ValueError as exc:
                return 400, {"error": str(exc)}, ""
        elif method not in ("GET", "HEAD"):
            return 405, {"error": "use GET or POST"}, ""
        return 200, self.faults.as_dict(), ""

    def forget(self, conn: HttpConnection) -> None:
        self.connections.discard(conn)
        if self.closing and not self.connections:
            self.all_closed.set()


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests in order and answers them in order."""

    def __init__(self, app: DemoApp) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closing = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.app.connections.add(self)
        if self.app.closing:
            self.closing = True
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.app.forget(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.app.in_flight -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.process()

    def shutdown(self) -> None:
        """Close now if idle, otherwise after the response in progress."""
        self.closing = True
        if not self.busy and not self.buffer and self.transport is not None:
            self.transport.close()

    def process(self) -> None:
        while self.buffer and not self.busy and self.transport is not None:
            if not self.handle_one():
                return
        if self.closing and not self.busy and not self.buffer and self.transport is not None:
            self.transport.close()

    def fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        self.transport.write(self.app.json(status, {"error": message}, False, False))
        self.buffer.clear()
        self.transport.close()

    def handle_one(self) -> bool:
        """Answer the first complete request in the buffer; False when it is incomplete."""
        buf = self.buffer
        while buf[:2] == b"\r\n":
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                self.fail(431, "request head too large")
            return False
        lines = buf[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.fail(400, "malformed request line")
            return False
        method, target, proto = parts
        length = 0
        chunked = False
        connection = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                connection = value.strip().lower()
        if length < 0 or length > MAX_BODY:
            self.fail(413 if length > 0 else 400, "bad or too large Content-Length")
            return False
        start = end + 4
        if chunked:
            try:
                decoded = _dechunk(buf, start)
            except ValueError:
                self.fail(400, "malformed chunked body")
                return False
            if decoded is None:
                return False
            body, consumed = decoded
        else:
            if len(buf) < start + length:
                return False
            body, consumed = bytes(buf[start : start + length]), start + length
        del buf[:consumed]
        keep_alive = connection != "close" if proto == "HTTP/1.1" else connection == "keep-alive"
        self.answer(method, target.split("?", 1)[0], body, keep_alive and not self.closing)
        return True

    def answer(self, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        app = self.app
        began = time.perf_counter()
        head = method == "HEAD"
        if path in SYSTEM_PATHS:
            status, data, ctype = app.system(method, path, body)
            if ctype:
                payload = app.response(
                    status, str(data).encode(), ctype, keep_alive=keep_alive, head=head
                )
            else:
                payload = app.json(status, data, keep_alive, head)
            self.send(path, status, payload, began, keep_alive)
            return
        faults = app.faults
        failed = faults.error_rate > 0 and app.rng.random() < faults.error_rate
        if failed:
            status = 500
            payload = app.json(
                500, {"error": "injected failure", "version": app.version}, keep_alive, head
            )
        elif path == "/" and app.upstream:
            self.busy = True
            app.in_flight += 1
            task = asyncio.get_running_loop().create_task(
                self.via_upstream(began, keep_alive, head)
            )
            app.tasks.add(task)
            task.add_done_callback(app.tasks.discard)
            return
        elif path == "/":
            status, payload = 200, app.hello(keep_alive, head)
        else:
            status, payload = 404, app.json(404, {"error": f"no route {path}"}, keep_alive, head)
        label = path if path == "/" else "other"
        if faults.latency_ms > 0:
            loop = asyncio.get_running_loop()
            self.busy = True
            app.in_flight += 1
            self.timer = loop.call_later(
                faults.latency_ms / 1000.0, self.delayed, label, status, payload, began, keep_alive
            )
            return
        self.send(label, status, payload, began, keep_alive)

    async def via_upstream(self, began: float, keep_alive: bool, head: bool) -> None:
        """Answer ``/`` after calling the upstream: 200 naming both versions, or 502."""
        app = self.app
        try:
            upstream = await asyncio.wait_for(call_upstream(app.upstream), UPSTREAM_TIMEOUT)
        except (OSError, ValueError, TimeoutError) as exc:
            status = 502
            payload = app.json(502, {"error": f"upstream: {exc!r}", "version": app.version},
                               keep_alive, head)  # fmt: skip
        else:
            status = 200
            text = f"hello from {app.version} (upstream {upstream})\n".encode()
            payload = app.response(200, text, "text/plain", keep_alive=keep_alive, head=head)
        self.delayed("/", status, payload, began, keep_alive)

    def delayed(
        self, label: str, status: int, payload: bytes, began: float, keep_alive: bool
    ) -> None:
        self.timer = None
        self.busy = False
        self.app.in_flight -= 1
        if self.transport is None:
            return
        self.send(label, status, payload, began, keep_alive)
        self.process()

    def send(self, label: str, status: int, payload: bytes, began: float, keep_alive: bool) -> None:
        assert self.transport is not None
        self.transport.write(payload)
        self.app.metrics.observe(label, status, time.perf_counter() - began)
        if not keep_alive:
            self.buffer.clear()
            self.transport.close()


UPSTREAM_TIMEOUT = 5.0


async def call_upstream(url: str) -> str:
    """``GET url/`` on a fresh connection: the upstream's version (its X-Version header);
    ValueError when it does not answer 200."""
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        head, _, _ = (await reader.read(MAX_HEAD)).partition(b"\r\n\r\n")
    finally:
        writer.close()
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or parts[1] != "200":
        raise ValueError(f"upstream answered {lines[0]!r}")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-version":
            return value.strip()
    return "?"


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked body at ``start``: (body, end offset), None if incomplete.

    Raise ValueError when it is malformed or too large.
    """
    body = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ValueError("bad chunk size") from None
        if size < 0 or len(body) + size > MAX_BODY:
            raise ValueError("chunk too large")
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return None if end < 0 else (bytes(body), end + 4)
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


class DemoServer:
    """The service inside an event loop: ``start()``, then ``port``, then ``stop()``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.app = DemoApp(config)
        self.server: asyncio.Server | None = None
        self.port = config.port

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: HttpConnection(self.app),
            self.config.host,
            self.config.port,
            reuse_address=True,
            backlog=1024,
        )
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to ``drain_seconds``), close."""
        app = self.app
        app.closing = True
        if self.server is not None:
            self.server.close()
        if not app.connections:
            app.all_closed.set()
        for conn in list(app.connections):
            conn.shutdown()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app.all_closed.wait(), self.config.drain_seconds)
        for conn in list(app.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)


async def serve(config: Config, announce: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = DemoServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    line = f"listening on {server.url} version {config.version}"
    if announce is None:
        print(line, flush=True)
    else:
        announce(line)
    await stop.wait()
    await server.stop()
