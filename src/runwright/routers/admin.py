"""The builtin proxy's admin API and state file: how runwright steers a proxy it did not start.

The proxy outlives the runwright command that started it, so everything runwright needs later
goes through two channels: the state file (the proxy's pid and addresses, and the backend
table, written atomically on every change and reloaded when the proxy restarts) and this small
HTTP API, bound to 127.0.0.1 only:

    GET  /status            pid, addresses, backends with weights and requests in flight
    PUT  /backends          {"backends": [{"name", "host", "port", "weight"}, ...]}: the table
    GET  /backends/NAME     drain status of one backend: weight, in_flight (404 when unknown)
    GET  /stats             per-backend counters as JSON (what ``counters()`` returns), with
                            a ``generation`` that moves whenever a request is counted
    GET  /stats?after=G&wait=S   the same, once the generation differs from G (at most S s
                            later): a sequential check learns of every change without a timer
    GET  /metrics           the same in Prometheus text format, for a scrape or an analysis

It is off the hot path, so plain asyncio streams are enough here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.errors import InputError, RunwrightError
from runwright.routers.base import LATENCY_BUCKETS, Backend, check_table, split_address

if TYPE_CHECKING:
    from runwright.routers.proxy import Proxy

log = logging.getLogger(__name__)

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def load_state(path: Path) -> list[Backend]:
    """The backend table a previous run of the proxy saved; empty when there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return []
    try:
        return [Backend.from_dict(b) for b in data.get("backends", [])]
    except InputError as exc:
        log.warning("ignoring bad backend table in %s: %s", path, exc)
        return []


def read_state(path: Path) -> dict[str, Any]:
    """The whole state file (pid, listen, admin, backends), or {} when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def target_stats(proxy: Proxy) -> list[dict[str, Any]]:
    out = []
    for name, t in proxy.table.targets.items():
        codes = dict(sorted(t.statuses.items()))
        cumulative, running = [], 0
        for bound, count in zip(LATENCY_BUCKETS, t.buckets, strict=False):
            running += count
            cumulative.append([bound, running])
        total = running + t.buckets[-1]
        out.append(
            {
                "name": name,
                "host": t.spec.host,
                "port": t.spec.port,
                "weight": t.spec.weight if t.live else 0,
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


def render_metrics(proxy: Proxy) -> str:
    lines = [
        "# HELP runwright_router_requests_total Requests answered by each backend, by status.",
        "# TYPE runwright_router_requests_total counter",
    ]
    stats = target_stats(proxy)
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
        f"runwright_router_no_backend_total {proxy.table.no_backend}",
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

    def __init__(self, proxy: Proxy, state_file: Path, *, listen: str, admin: str) -> None:
        self.proxy = proxy
        self.state_file = state_file
        self.listen = listen
        self.admin = admin
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = split_address(self.admin)
        self.server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        self.save()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def record(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "listen": self.listen,
            "admin": self.admin,
            "backends": [b.to_dict() for b in self.proxy.table.backends()],
        }

    def save(self) -> None:
        save_state(self.state_file, self.record())

    def status(self) -> dict[str, Any]:
        self.proxy.table.forget_drained()
        out = self.record()
        out["backends"] = [
            {**b.to_dict(), "in_flight": self.proxy.in_flight(b.name) or 0}
            for b in self.proxy.table.backends()
        ]
        return out

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, _, rest = lines[0].partition(" ")
                path = rest.split(" ", 1)[0]
                length, close = 0, False
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    if key == "content-length":
                        length = int(value)
                    elif key == "connection":
                        close = value.strip().lower() == "close"
                body = await reader.readexactly(length) if length else b""
                await self._wait_for_change(path)
                status, ctype, payload = self.route(method, path, body)
                writer.write(
                    f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if close:
                    return
        except (OSError, ValueError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

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
            return 200, "text/plain; version=0.0.4", render_metrics(self.proxy).encode()
        if path in ("/status", "/backends") and method == "GET":
            return _json(200, self.status())
        if path == "/health" and method == "GET":
            return _json(200, {"ok": True, "pid": os.getpid()})
        if path == "/stats" and method == "GET":
            stats = {"generation": self.proxy.generation, "backends": target_stats(self.proxy)}
            return _json(200, stats)
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
            target = self.proxy.table.targets.get(name)
            if target is None:
                return _json(404, {"error": f"no backend {name}"})
            return _json(
                200,
                {
                    "name": name,
                    "weight": target.spec.weight if target.live else 0,
                    "live": target.live,
                    "in_flight": target.in_flight,
                },
            )
        if path in ("/metrics", "/status", "/health", "/stats", "/backends"):
            return _json(405, {"error": f"{method} not allowed on {path}"})
        return _json(404, {"error": f"no such path {path}"})


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()
