"""The builtin proxy's admin API: how runwright steers a proxy it did not start.

The proxy outlives the runwright command that started it, so everything runwright needs later
goes through two channels: the state file (``state.py``: the proxy's pid and addresses, and
the backend table, written on every change and reloaded when the proxy restarts) and this
small HTTP API, bound to 127.0.0.1 only:

    GET  /status            pid, addresses, backends with weights and requests in flight
    PUT  /backends          {"backends": [{"name", "host", "port", "weight"}, ...]}: the table
    GET  /backends/NAME     drain status of one backend: weight, in_flight (404 when unknown)
    GET  /stats             per-backend counters as JSON (what ``counters()`` returns), with
                            a ``generation`` that moves whenever a request is counted
    GET  /stats?after=G&wait=S   the same, once the generation differs from G (at most S s
                            later): a sequential check learns of every change without a timer
    GET  /metrics           the same in Prometheus text format, for a scrape or an analysis

Every request must carry ``Authorization: Bearer TOKEN`` (``token.py``: a secret in a file of
mode 0600 beside the state file), else 401; and a Host of 127.0.0.1, localhost or [::1] with
the admin port, else 421, so a web page that reached 127.0.0.1 through DNS rebinding is turned
away before the token is even looked at. Requests are parsed strictly by llhttp (httptools, as
on the data path) over asyncio streams, with a deadline on every read. It sees the proxy only
through ``snapshot.Steerable`` (a frozen snapshot, ``set_backends``), never its internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import Any

import httptools

from runwright.errors import RunwrightError
from runwright.routers.base import LATENCY_BUCKETS, Backend, check_table, split_address
from runwright.routers.snapshot import ProxySnapshot, Steerable
from runwright.routers.state import RouterState, save_state

log = logging.getLogger(__name__)

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    421: "Misdirected Request",
}
MAX_BODY = 1024 * 1024
IDLE_SECONDS = 60.0
"""A kept connection may wait this long for its next request (a long poll waits at most 30 s)."""
READ_SECONDS = 10.0
"""A request begun must arrive whole within this."""


def target_stats(snap: ProxySnapshot) -> list[dict[str, Any]]:
    out = []
    for t in snap.targets:
        codes = dict(sorted(t.statuses.items()))
        cumulative, running = [], 0
        for bound, count in zip(LATENCY_BUCKETS, t.buckets, strict=False):
            running += count
            cumulative.append([bound, running])
        total = running + t.buckets[-1]
        out.append(
            {
                "name": t.name,
                "host": t.host,
                "port": t.port,
                "weight": t.weight,
                "live": t.live,
                "in_flight": t.in_flight,
                "requests": sum(codes.values()) + t.failures,
                "statuses": {str(k): v for k, v in codes.items()},
                "errors_5xx": sum(v for k, v in codes.items() if 500 <= k < 600),
                "failures": t.failures,
                "latency_count": total,
                "latency_sum": t.latency_sum,
                "latency_buckets": cumulative,
            }
        )
    return out


def render_metrics(snap: ProxySnapshot) -> str:
    lines = [
        "# HELP runwright_router_requests_total Requests answered by each backend, by status.",
        "# TYPE runwright_router_requests_total counter",
    ]
    stats = target_stats(snap)
    for s in stats:
        for code, count in s["statuses"].items():
            lines.append(
                f'runwright_router_requests_total{{backend="{s["name"]}",code="{code}"}} {count}'
            )
    lines += [
        "# HELP runwright_router_failures_total Requests a backend left unanswered.",
        "# TYPE runwright_router_failures_total counter",
    ]
    lines += [
        f'runwright_router_failures_total{{backend="{s["name"]}"}} {s["failures"]}' for s in stats
    ]
    lines += [
        "# HELP runwright_router_in_flight Requests in flight to each backend.",
        "# TYPE runwright_router_in_flight gauge",
    ]
    lines += [
        f'runwright_router_in_flight{{backend="{s["name"]}"}} {s["in_flight"]}' for s in stats
    ]
    lines += [
        "# HELP runwright_router_backend_weight Configured weight of each backend.",
        "# TYPE runwright_router_backend_weight gauge",
    ]
    lines += [
        f'runwright_router_backend_weight{{backend="{s["name"]}"}} {s["weight"]}' for s in stats
    ]
    lines += [
        "# HELP runwright_router_no_backend_total Requests refused: no backend configured.",
        "# TYPE runwright_router_no_backend_total counter",
        f"runwright_router_no_backend_total {snap.no_backend}",
        "# HELP runwright_router_request_duration_seconds Time to a backend's full answer.",
        "# TYPE runwright_router_request_duration_seconds histogram",
    ]
    for s in stats:
        name = s["name"]
        for bound, count in s["latency_buckets"]:
            lines.append(
                f'runwright_router_request_duration_seconds_bucket{{backend="{name}",'
                f'le="{bound:g}"}} {count}'
            )
        lines.append(
            f'runwright_router_request_duration_seconds_bucket{{backend="{name}",le="+Inf"}} '
            f"{s['latency_count']}"
        )
        lines.append(
            f'runwright_router_request_duration_seconds_sum{{backend="{name}"}} '
            f"{s['latency_sum']:.6f}"
        )
        lines.append(
            f'runwright_router_request_duration_seconds_count{{backend="{name}"}} '
            f"{s['latency_count']}"
        )
    return "\n".join(lines) + "\n"


class AdminServer:
    """The admin HTTP API of one proxy, and the owner of its state file."""

    def __init__(
        self, proxy: Steerable, state_file: Path, *, listen: str, admin: str, token: str
    ) -> None:
        self.proxy = proxy
        self.state_file = state_file
        self.listen = listen
        self.admin = admin
        self.server: asyncio.Server | None = None
        self.bearer = f"Bearer {token}".encode()
        port = split_address(admin)[1]
        self.hosts = {f"{h}:{port}".encode() for h in ("127.0.0.1", "localhost", "[::1]")}

    async def start(self) -> None:
        host, port = split_address(self.admin)
        self.server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        self.save()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def record(self, snap: ProxySnapshot | None = None) -> RouterState:
        table = (snap or self.proxy.snapshot()).backends
        return RouterState(os.getpid(), self.listen, self.admin, table)

    def save(self) -> None:
        save_state(self.state_file, self.record())

    def status(self) -> dict[str, Any]:
        self.proxy.forget_drained()
        snap = self.proxy.snapshot()
        out = self.record(snap).to_json()
        out["backends"] = [
            {**b.to_dict(), "in_flight": t.in_flight if (t := snap.target(b.name)) else 0}
            for b in snap.backends
        ]
        return out

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests = _Requests()
        try:
            while True:
                while not requests.ready:
                    idle = requests.current is None
                    async with asyncio.timeout(IDLE_SECONDS if idle else READ_SECONDS):
                        data = await reader.read(65536)
                    if not data:
                        return
                    requests.parser.feed_data(data)
                request = requests.ready.popleft()
                status, ctype, payload = await self.answer(request)
                writer.write(_head(status, ctype, len(payload)) + payload)
                await writer.drain()
                if not request.keep_alive:
                    return
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            with contextlib.suppress(OSError):
                payload = json.dumps({"error": f"bad request: {exc}"}).encode()
                writer.write(_head(400, "application/json", len(payload)) + payload)
        except (OSError, TimeoutError, ValueError):
            return
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def answer(self, request: _Request) -> tuple[int, str, bytes]:
        """The answer to one request: refused (Host, token) or routed."""
        if request.hosts != [request.host] or request.host.lower() not in self.hosts:
            return _json(421, {"error": "this admin API answers only to Host 127.0.0.1:PORT"})
        if not hmac.compare_digest(request.authorization, self.bearer):
            return _json(401, {"error": "missing or wrong token (Authorization: Bearer ...)"})
        path = request.url.decode("latin-1")
        await self._wait_for_change(path)
        return self.route(request.method.decode("latin-1"), path, bytes(request.body))

    async def _wait_for_change(self, path: str) -> None:
        base, _, query = path.partition("?")
        if base.rstrip("/") != "/stats" or not query:
            return
        args = dict(part.partition("=")[::2] for part in query.split("&"))
        try:
            after, wait = int(args["after"]), min(float(args.get("wait", "1")), 30.0)
        except (KeyError, ValueError):
            return
        await self.proxy.changed(after, max(0.0, wait))

    def route(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/metrics" and method == "GET":
            text = render_metrics(self.proxy.snapshot())
            return 200, "text/plain; version=0.0.4", text.encode()
        if path in ("/status", "/backends") and method == "GET":
            return _json(200, self.status())
        if path == "/health" and method == "GET":
            return _json(200, {"ok": True, "pid": os.getpid()})
        if path == "/stats" and method == "GET":
            snap = self.proxy.snapshot()
            return _json(200, {"generation": snap.generation, "backends": target_stats(snap)})
        if path == "/backends" and method == "PUT":
            try:
                data = json.loads(body)
                backends = [Backend.from_dict(b) for b in data["backends"]]
                if backends:
                    check_table(backends)
            except (ValueError, KeyError, TypeError, RunwrightError) as exc:
                return _json(400, {"error": str(exc)})
            self.proxy.set_backends(backends)
            self.save()
            return _json(200, self.status())
        if path.startswith("/backends/") and method == "GET":
            name = path[len("/backends/") :]
            target = self.proxy.snapshot().target(name)
            if target is None:
                return _json(404, {"error": f"no backend {name}"})
            return _json(
                200,
                {
                    "name": name,
                    "weight": target.weight,
                    "live": target.live,
                    "in_flight": target.in_flight,
                },
            )
        if path in ("/metrics", "/status", "/health", "/stats", "/backends"):
            return _json(405, {"error": f"{method} not allowed on {path}"})
        return _json(404, {"error": f"no such path {path}"})


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


class _Request:
    __slots__ = ("method", "url", "hosts", "authorization", "body", "keep_alive")

    def __init__(self) -> None:
        self.method = self.url = self.authorization = b""
        self.hosts: list[bytes] = []
        self.body = bytearray()
        self.keep_alive = True

    @property
    def host(self) -> bytes:
        return self.hosts[0] if self.hosts else b""


class _Requests:
    """llhttp's callbacks: complete requests queue in ``ready``."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[_Request] = deque()
        self.current: _Request | None = None
        self.size = 0

    def on_message_begin(self) -> None:
        self.current = _Request()
        self.size = 0

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self._count(len(name) + len(value))
        low = name.lower()
        if low == b"host":
            self.current.hosts.append(value)
        elif low == b"authorization":
            self.current.authorization = value

    def on_headers_complete(self) -> None:
        assert self.current is not None
        self.current.method = self.parser.get_method()
        self.current.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body
        self._count(len(body))

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.ready.append(self.current)
        self.current = None

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > MAX_BODY:
            raise ValueError("request too large")


def _head(status: int, ctype: str, length: int) -> bytes:
    extra = 'WWW-Authenticate: Bearer realm="runwright-router"\r\n' if status == 401 else ""
    return (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
        f"{extra}Content-Length: {length}\r\n\r\n"
    ).encode()
