"""runwright's own reverse proxy, so a blue-green or canary release needs nothing installed.

It runs as a process of its own (``python -m runwright.routers.proxy --listen ADDR --admin
ADDR --state-file PATH``) in a session of its own, so it outlives the runwright command that
started it, even one killed with SIGKILL: traffic must keep flowing while a crashed run is
resumed. ``builtin.py`` drives it through the admin API (``admin.py``), which sees it only
through ``snapshot()`` and ``set_backends``.

The data path is written on ``asyncio.Protocol`` (and uvloop when it is installed) because it
sits in front of every request of the service: HTTP/1.1 keep-alive on both sides, a pool of idle
connections per backend, a weighted choice per request (not per connection, so a canary at 10%
sees 10% of requests even from clients holding one connection), requests buffered whole so one
refused or stale backend connection is retried on another backend instead of failing a user
request, responses streamed back as they arrive. A backend lowered to weight 0 (or removed) gets
no new request while the ones in flight complete: that is connection draining.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
from bisect import bisect_left
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runwright.routers.admin import AdminServer
from runwright.routers.base import LATENCY_BUCKETS, Backend, smooth_schedule, split_address
from runwright.routers.snapshot import ProxySnapshot, TargetSnapshot
from runwright.routers.state import load_state

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
MAX_TRIES = 4
DOWN_SECONDS = 1.0
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
NO_BODY_STATUS = frozenset({204, 304})

_SIZE, _DATA, _TRAILER, _DONE = 0, 1, 2, 3


def canned(status: int, reason: str, text: str, close: bool = False) -> bytes:
    body = (text + "\n").encode()
    conn = "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n{conn}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


BAD_GATEWAY = canned(502, "Bad Gateway", "no backend could answer this request")
NO_BACKEND = canned(503, "Service Unavailable", "no backend is configured to take traffic")
BAD_REQUEST = canned(400, "Bad Request", "malformed request", close=True)
HEAD_TOO_LARGE = canned(431, "Request Header Fields Too Large", "request head too large", True)
TOO_LARGE = canned(413, "Content Too Large", "request body too large", close=True)
GATEWAY_TIMEOUT = canned(504, "Gateway Timeout", "the backend did not answer in time")


class Chunked:
    """Finds where a chunked body ends, fed piece by piece (bytes are not kept)."""

    __slots__ = ("state", "left", "line")

    def __init__(self) -> None:
        self.state = _SIZE
        self.left = 0
        self.line = b""

    def feed(self, data: bytes | bytearray, pos: int = 0) -> int:
        """Consume ``data[pos:]``; the index just past the body's end, or -1 if not there yet."""
        n = len(data)
        while pos < n:
            if self.state == _DATA:
                take = min(self.left, n - pos)
                pos += take
                self.left -= take
                if self.left == 0:
                    self.state = _SIZE
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                self.line += bytes(data[pos:])
                if len(self.line) > 4096:
                    raise ValueError("chunk line too long")
                return -1
            line = self.line + bytes(data[pos:nl])
            self.line = b""
            pos = nl + 1
            if self.state == _SIZE:
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    self.state = _TRAILER
                else:
                    self.state, self.left = _DATA, size + 2
            elif not line.strip():
                self.state = _DONE
                return pos
        return -1


class Target:
    """A backend as the proxy sees it: address, weight, idle connections and counters."""

    def __init__(self, spec: Backend) -> None:
        self.spec = spec
        self.addr = (spec.host, spec.port)
        self.idle: list[Upstream] = []
        self.in_flight = 0
        self.statuses: dict[int, int] = {}
        self.failures = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.down_until = 0.0
        self.live = True

    def drop_idle(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.transport.close()


class Table:
    """The backend table and the weighted schedule picked from, one index step per request."""

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.order: list[Target] = []
        self.cycle: list[Target] = []
        self.pos = 0
        self.no_backend = 0

    def set(self, backends: Sequence[Backend]) -> None:
        keep: dict[str, Target] = {}
        for spec in backends:
            old = self.targets.get(spec.name)
            if old is not None and old.addr == (spec.host, spec.port):
                old.spec = spec
                old.live = True
                keep[spec.name] = old
            else:
                if old is not None:
                    old.live = False
                    old.drop_idle()
                keep[spec.name] = Target(spec)
        for name, old in self.targets.items():
            if name not in keep:
                old.live = False
                old.drop_idle()
                if old.in_flight:
                    keep[name] = old
                    old.spec = Backend(old.spec.name, old.spec.host, old.spec.port, 0)
        self.targets = keep
        self.order = [t for t in keep.values() if t.live]
        schedule = smooth_schedule([t.spec.weight for t in self.order])
        self.cycle = [self.order[i] for i in schedule]
        self.pos = 0

    def backends(self) -> list[Backend]:
        return [t.spec for t in self.order]

    def forget_drained(self) -> None:
        for name in [n for n, t in self.targets.items() if not t.live and not t.in_flight]:
            del self.targets[name]

    def pick(self, now: float, tried: list[Target] | None) -> Target | None:
        cycle = self.cycle
        n = len(cycle)
        if not n:
            return None
        for _ in range(n):
            t = cycle[self.pos]
            self.pos = self.pos + 1 if self.pos + 1 < n else 0
            if (tried is None or t not in tried) and t.down_until <= now:
                return t
        for t in cycle:
            if tried is None or t not in tried:
                return t
        return None


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one request at a time."""

    def __init__(self, proxy: Proxy, target: Target) -> None:
        self.proxy = proxy
        self.target = target
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: Client | None = None
        self.reused = False
        self.got = False
        self.hbuf = b""
        self.remaining = 0
        self.mode = 0
        self.chunked: Chunked | None = None
        self.status = 0
        self.keep = True
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self, client: Client, reused: bool) -> None:
        self.client = client
        self.reused = reused
        self.got = False
        self.hbuf = b""
        self.transport.write(client.req)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            self.transport.close()
            return
        if not self.got:
            head = self.hbuf + data if self.hbuf else data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(head) > MAX_HEAD:
                    self.transport.close()
                self.hbuf = head
                return
            self.hbuf = b""
            if not self._head(head[: end + 4], client):
                self.transport.close()
                return
            self.got = True
            client.transport.write(head)
            self._body(head, end + 4)
            return
        client.transport.write(data)
        self._body(data, 0)

    def _head(self, head: bytes, client: Client) -> bool:
        try:
            self.status = status = int(head[9:12])
        except ValueError:
            return False
        low = head.lower()
        self.keep = not head.startswith(b"HTTP/1.0") and b"\nconnection: close" not in low
        if client.method == b"HEAD" or status in NO_BODY_STATUS or status < 200:
            self.mode, self.remaining = 0, 0
        elif b"\ntransfer-encoding:" in low and b"chunked" in low:
            self.mode, self.chunked = 2, Chunked()
        else:
            at = low.find(b"\ncontent-length:")
            if at >= 0:
                stop = low.find(b"\r", at)
                self.mode, self.remaining = 1, int(low[at + 16 : stop])
            else:
                self.mode, self.keep = 3, False
        return True

    def _body(self, data: bytes, pos: int) -> None:
        mode = self.mode
        if mode == 0:
            self._done()
        elif mode == 1:
            self.remaining -= len(data) - pos
            if self.remaining <= 0:
                if self.remaining < 0:
                    self.keep = False
                self._done()
        elif mode == 2:
            assert self.chunked is not None
            try:
                end = self.chunked.feed(data, pos)
            except ValueError:
                self.keep = False
                end = len(data)
            if end >= 0:
                if end != len(data):
                    self.keep = False
                self._done()

    def _done(self, close_client: bool = False) -> None:
        client, self.client = self.client, None
        target = self.target
        target.in_flight -= 1
        status = self.status
        target.statuses[status] = target.statuses.get(status, 0) + 1
        assert client is not None
        took = self.proxy.loop.time() - client.t0
        target.buckets[bisect_left(LATENCY_BUCKETS, took)] += 1
        target.latency_sum += took
        self.proxy.counted()
        if self.keep and target.live:
            target.idle.append(self)
        else:
            self.transport.close()
        client.done(close_client or not self.keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        with contextlib.suppress(ValueError):
            self.target.idle.remove(self)
        client = self.client
        if client is None:
            return
        if self.got and self.mode == 3:
            self._done(close_client=True)
            return
        self.client = None
        self.target.in_flight -= 1
        if not self.got and self.reused:
            # A kept connection died before answering: the backend closed it, or died. Its
            # other idle connections are as suspect, so the retry (on any backend) opens a
            # fresh one, which a dead backend refuses at once, instead of trying them in turn.
            self.target.drop_idle()
            client.retry(None)
        elif not self.got and client.method in IDEMPOTENT:
            client.retry(self.target)
        else:
            self.target.failures += 1
            self.proxy.counted()
            client.fail(self.got)

    def abandon(self) -> None:
        """The client went away mid-request: this connection cannot be reused."""
        if self.client is not None:
            self.client = None
            self.target.in_flight -= 1
        self.transport.close()


class Client(asyncio.Protocol):
    """One client connection: parses requests, one in flight at a time, in order."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.buf = bytearray()
        self.busy = False
        self.paused = False
        self.closing = False
        self.req = b""
        self.method = b""
        self.close_after = False
        self.t0 = 0.0
        self.tries = 0
        self.tried: list[Target] | None = None
        self.upstream: Upstream | None = None
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proxy.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.proxy.clients.discard(self)
        if self.upstream is not None:
            self.upstream.abandon()
            self.upstream = None

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and not self.upstream.closed:
            self.upstream.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.busy:
            if len(self.buf) > MAX_HEAD and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        self.next_request()

    def next_request(self) -> None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD:
            if len(buf) > MAX_HEAD:
                self.reply(HEAD_TOO_LARGE, close=True)
            return
        total = end + 4
        head = bytes(buf[:total])
        low = head.lower()
        if b"\ncontent-length:" in low:
            at = low.find(b"\ncontent-length:")
            try:
                length = int(low[at + 16 : low.find(b"\r", at)])
            except ValueError:
                self.reply(BAD_REQUEST, close=True)
                return
            if length > MAX_BODY:
                self.reply(TOO_LARGE, close=True)
                return
            total += length
            if len(buf) < total:
                return
        elif b"\ntransfer-encoding:" in low and b"chunked" in low:
            try:
                stop = Chunked().feed(buf, total)
            except ValueError:
                self.reply(BAD_REQUEST, close=True)
                return
            if stop < 0:
                if len(buf) > MAX_BODY:
                    self.reply(TOO_LARGE, close=True)
                return
            total = stop
        sp = head.find(b" ")
        if sp <= 0:
            self.reply(BAD_REQUEST, close=True)
            return
        self.method = head[:sp]
        line_end = head.find(b"\r\n")
        http10 = head[line_end - 8 : line_end] == b"HTTP/1.0"
        self.close_after = (b"\nconnection: close" in low) or (
            http10 and b"\nconnection: keep-alive" not in low
        )
        self.req = head if total == len(head) else bytes(buf[:total])
        del buf[:total]
        self.busy = True
        self.tries = 0
        self.tried = None
        self.t0 = self.proxy.loop.time()
        self.dispatch()

    def dispatch(self) -> None:
        proxy = self.proxy
        target = proxy.table.pick(self.t0, self.tried)
        if target is None:
            if self.tries == 0 and not proxy.table.cycle:
                proxy.table.no_backend += 1
                self.reply(NO_BACKEND)
            else:
                self.reply(BAD_GATEWAY)
            return
        self.tries += 1
        target.in_flight += 1
        idle = target.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self.upstream = conn
                conn.start(self, True)
                return
        proxy.loop.create_task(self.connect(target))

    async def connect(self, target: Target) -> None:
        loop = self.proxy.loop
        try:
            _, conn = await loop.create_connection(
                lambda: Upstream(self.proxy, target), *target.addr
            )
        except OSError:
            target.in_flight -= 1
            target.down_until = loop.time() + DOWN_SECONDS
            if self.gone:
                return
            self.retry(target)
            return
        if self.gone or self.upstream is not None:
            target.in_flight -= 1
            target.idle.append(conn)
            return
        self.upstream = conn
        conn.start(self, False)

    def retry(self, failed: Target | None) -> None:
        self.upstream = None
        if self.gone:
            return
        if failed is not None:
            if self.tried is None:
                self.tried = []
            self.tried.append(failed)
        if self.tries >= MAX_TRIES:
            self.reply(BAD_GATEWAY)
            return
        self.dispatch()

    def fail(self, answered: bool) -> None:
        self.upstream = None
        if answered:
            self.transport.close()
        else:
            self.reply(BAD_GATEWAY)

    def reply(self, data: bytes, close: bool = False) -> None:
        self.upstream = None
        if self.gone:
            return
        self.transport.write(data)
        self.done(close)

    def done(self, close: bool) -> None:
        self.upstream = None
        self.busy = False
        if close or self.close_after or self.closing:
            self.transport.close()
            return
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if self.buf:
            self.next_request()


class Proxy:
    """The listening socket, the table and the clients; the admin API drives it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.table = Table()
        self.clients: set[Client] = set()
        self.server: asyncio.Server | None = None
        self.on_change: Callable[[], None] | None = None
        self.generation = 0
        self.watchers: list[asyncio.Future[None]] = []

    async def listen(self, host: str, port: int) -> None:
        self.server = await self.loop.create_server(
            lambda: Client(self), host, port, reuse_address=True, backlog=1024
        )

    def set_backends(self, backends: Sequence[Backend]) -> None:
        self.table.set(backends)
        log.info("backends: %s", ", ".join(f"{b.name}={b.weight}" for b in backends))

    def forget_drained(self) -> None:
        self.table.forget_drained()

    def snapshot(self) -> ProxySnapshot:
        """A frozen copy of the table and every target's counters, for the admin API."""
        targets = tuple(
            TargetSnapshot(
                name=name,
                host=t.spec.host,
                port=t.spec.port,
                weight=t.spec.weight if t.live else 0,
                live=t.live,
                in_flight=t.in_flight,
                statuses=dict(t.statuses),
                failures=t.failures,
                buckets=tuple(t.buckets),
                latency_sum=t.latency_sum,
            )
            for name, t in self.table.targets.items()
        )
        return ProxySnapshot(
            tuple(self.table.backends()), targets, self.table.no_backend, self.generation
        )

    def counted(self) -> None:
        """A request was counted: wake whoever waits for the counters to change."""
        self.generation += 1
        if self.watchers:
            watchers, self.watchers = self.watchers, []
            for waiter in watchers:
                if not waiter.done():
                    waiter.set_result(None)

    async def changed(self, generation: int, wait: float) -> None:
        """Return once the counters moved past ``generation``, or after ``wait`` s."""
        if self.generation != generation:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.watchers.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, wait)

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` s), close the rest."""
        if self.server is not None:
            self.server.close()
        for client in list(self.clients):
            client.closing = True
            if not client.busy:
                client.transport.close()
        deadline = self.loop.time() + grace
        while self.loop.time() < deadline:
            if not any(c.busy for c in self.clients):
                break
            await asyncio.sleep(0.02)
        for client in list(self.clients):
            client.transport.close()
        for target in self.table.targets.values():
            target.drop_idle()


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def serve(
    listen: str, admin: str, state_file: Path, grace: float, ready: Callable[[], None]
) -> None:
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop)
    proxy.set_backends(load_state(state_file))
    admin_server = AdminServer(proxy, state_file, listen=listen, admin=admin)
    host, port = split_address(listen)
    await proxy.listen(host, port)
    await admin_server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    log.info("proxy pid %d listening on %s, admin on %s", os.getpid(), listen, admin)
    # Few cyclic objects live here: fewer, shorter collections keep the latency tail flat.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    ready()
    await stop.wait()
    log.info("stopping: letting requests in flight finish")
    await admin_server.stop()
    await proxy.shutdown(grace)


def daemonize(log_file: Path) -> Callable[[str], None]:
    """Fork into a session of our own; the launcher exits once the proxy serves (or fails).

    Returns, in the daemon, the function that tells the launcher how it went. The launcher
    prints the daemon's message and exits 0 ("ok") or 1, so whoever started it knows at once.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            message = pipe.read().decode(errors="replace").strip()
        if message == "ok":
            print(f"proxy pid {pid} started", flush=True)
            os._exit(0)
        print(message or f"the proxy exited at start; see {log_file}", file=sys.stderr)
        os._exit(1)
    os.close(read_fd)
    os.setsid()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)

    def tell(message: str) -> None:
        with contextlib.suppress(OSError):
            os.write(write_fd, message.encode())
            os.close(write_fd)

    return tell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runwright.routers.proxy", description="runwright's reverse proxy"
    )
    parser.add_argument("--listen", required=True, help="HOST:PORT for traffic")
    parser.add_argument("--admin", required=True, help="127.0.0.1:PORT for the admin API")
    parser.add_argument("--state-file", required=True, type=Path)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to drain on SIGTERM")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    parser.add_argument("--daemon", action="store_true", help="detach; exit once serving")
    parser.add_argument("--log-file", type=Path, help="where a daemon writes its log")
    args = parser.parse_args(argv)
    try:
        split_address(args.listen)
        admin_host, _ = split_address(args.admin)
    except Exception as exc:  # noqa: BLE001 - reported to the person who started us
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if admin_host not in ("127.0.0.1", "localhost", "::1"):
        print("error: the admin API must listen on 127.0.0.1", file=sys.stderr)
        return 2
    tell: Callable[[str], None] = lambda message: None  # noqa: E731
    if args.daemon:
        tell = daemonize(args.log_file or args.state_file.with_suffix(".log"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    factory = _loop_factory(not args.no_uvloop)
    log.info("event loop: %s", "uvloop" if factory else "asyncio")
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(
                serve(args.listen, args.admin, args.state_file, args.grace, lambda: tell("ok"))
            )
    except OSError as exc:
        message = f"error: the proxy cannot listen: {exc}"
        print(message, file=sys.stderr)
        tell(message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
