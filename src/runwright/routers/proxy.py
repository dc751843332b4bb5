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

Every byte is framed by llhttp (``http1.py``): requests and backend answers are parsed
strictly and re-serialised, so a client and a backend can never disagree on where a message
ends, and a malformed answer closes that one backend connection (the client gets 502). Every
wait has a deadline (``limits.py``), checked by one sweep a few times a second rather than a
timer per request; the number of client connections is capped below the descriptor limit.
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
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httptools

from runwright.routers.admin import AdminServer
from runwright.routers.base import LATENCY_BUCKETS, Backend, split_address
from runwright.routers.http1 import (
    BAD_ANSWER,
    BAD_GATEWAY,
    BUSY,
    CONTINUE,
    GATEWAY_TIMEOUT,
    HOP_BY_HOP,
    MAX_HEADERS,
    NO_BACKEND,
    REQUEST_TIMEOUT,
    Request,
    RequestReader,
    ResponseHead,
)
from runwright.routers.limits import ProxyLimits, connection_cap
from runwright.routers.proxy_table import Table, Target
from runwright.routers.snapshot import ProxySnapshot, TargetSnapshot
from runwright.routers.state import load_state
from runwright.routers.token import TOKEN_NAME, ensure_token

log = logging.getLogger(__name__)

MAX_TRIES = 4
DOWN_SECONDS = 1.0
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
NO_BODY_STATUS = frozenset({204, 304})

_NONE, _LENGTH, _CHUNKED, _CLOSE = 0, 1, 2, 3


class _Stop(Exception):  # noqa: N818 - not an error
    """Stops llhttp: the answer ended (HEAD) or overran."""


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one request at a time; llhttp's
    callbacks for its answers: 1xx relayed, the final one re-framed for the client, and back
    to the pool only when that answer ended exactly where the backend's bytes did."""

    def __init__(self, proxy: Proxy, target: Target) -> None:
        self.proxy = proxy
        self.target = target
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.client: Client | None = None
        self.reused = False
        self.got = False
        self.final = False
        self.in_head = False
        self.head = ResponseHead()
        self.framing = _NONE
        self.status = 0
        self.finished = False
        self.keep = True
        self.closed = False
        self.deadline = 0.0
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self, client: Client, reused: bool) -> None:
        self.client = client
        self.reused = reused
        self.got = self.final = self.finished = False
        self.deadline = client.t0 + self.proxy.limits.response
        assert client.request is not None
        self.transport.write(client.request.wire)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            self.transport.close()
            return
        out = self.out
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if not self.finished:
                out.clear()  # nothing of a piece that does not parse reaches the client
                self._broken()
                return
            self.keep = False  # complete, but more followed (or a HEAD answer): not reusable
        if out:
            client.transport.write(b"".join(out) if len(out) > 1 else out[0])
            out.clear()
            self.got = self.final
        if self.finished:
            self._done()
        else:
            self.deadline = self.proxy.loop.time() + self.proxy.limits.response

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.finished or self.client is None:
            raise _Stop
        self.in_head = True
        self.head = ResponseHead()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:
            low = name.lower()
            if low in HOP_BY_HOP:
                self.head.framing_field(low, value)
                return
            fields = self.head.fields
            fields += (name, b": ", value, b"\r\n")
            if len(fields) > 4 * MAX_HEADERS:
                raise _Stop

    def on_headers_complete(self) -> None:
        self.in_head = False
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                raise _Stop  # no upgrade was asked for
            return
        client = self.client
        assert client is not None
        assert client.request is not None
        request = client.request
        self.status = status
        head = self.head
        framing = b""
        if request.method == b"HEAD" or status in NO_BODY_STATUS:
            self.framing = _NONE
            if head.length is not None and status != 204:
                framing = b"Content-Length: " + head.length + b"\r\n"
        elif head.te is not None:
            self.framing = _CHUNKED if head.chunked and request.http11 else _CLOSE
            if self.framing == _CHUNKED:
                framing = b"Transfer-Encoding: chunked\r\n"
        elif head.length is not None:
            self.framing = _LENGTH
            framing = b"Content-Length: " + head.length + b"\r\n"
        else:
            self.framing = _CLOSE
        if self.framing == _CLOSE or not request.keep_alive or client.closing:
            framing += b"Connection: close\r\n"
        elif not request.http11:
            framing += b"Connection: keep-alive\r\n"
        self.out.append(head.serialise(status, framing))
        self.final = True
        if request.method == b"HEAD":
            self.finished = True
            raise _Stop  # llhttp cannot be told a HEAD answer has no body

    def on_body(self, body: bytes) -> None:
        if self.framing == _CHUNKED:
            self.out.append(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        client = self.client
        assert client is not None
        assert client.request is not None
        if not self.final:
            if client.request.http11:
                status = self.parser.get_status_code()
                self.out.append(self.head.serialise(status, b""))
            return
        if self.framing == _CHUNKED:
            self.out.append(b"0\r\n\r\n")
        self.finished = True
        self.keep = self.parser.should_keep_alive()

    # -- ends --------------------------------------------------------------------------------

    def _done(self) -> None:
        client, self.client = self.client, None
        target = self.target
        target.in_flight -= 1
        status = self.status
        target.statuses[status] = target.statuses.get(status, 0) + 1
        assert client is not None
        now = self.proxy.loop.time()
        took = now - client.t0
        target.buckets[bisect_left(LATENCY_BUCKETS, took)] += 1
        target.latency_sum += took
        self.proxy.counted()
        if self.keep and target.live and not self.closed:
            target.idle.append(self)
        else:
            self.transport.close()
        client.done(self.framing == _CLOSE, now)

    def _broken(self) -> None:
        """The answer cannot be framed: this connection is closed, the client told so."""
        self.keep = False
        client = self._failed()
        if client is None:
            return
        log.warning("a malformed answer from %s: connection closed", self.target.spec.name)
        client.fail(self.got, BAD_ANSWER)

    def timed_out(self) -> None:
        """Silent past ``response``: 504 if nothing was answered yet, else the client closes."""
        client = self._failed()
        if client is not None:
            client.fail(self.got, GATEWAY_TIMEOUT)

    def _failed(self) -> Client | None:
        """Close this connection and count its request (if any) as the backend's failure; the
        client it was answering, to be told."""
        client, self.client = self.client, None
        self.transport.close()
        if client is not None:
            self.target.in_flight -= 1
            self.target.failures += 1
            self.proxy.counted()
        return client

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        with contextlib.suppress(ValueError):
            self.target.idle.remove(self)
        client = self.client
        if client is None:
            return
        if self.got and self.framing == _CLOSE:
            self.finished, self.keep = True, False
            self._done()
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
            client.fail(self.got, BAD_GATEWAY)

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
        self.reader = RequestReader()
        self.request: Request | None = None
        self.busy = False
        self.paused = False
        self.closing = False
        self.method = b""
        self.t0 = 0.0
        self.deadline = 0.0
        self.seen: Request | None = None
        self.tries = 0
        self.timeouts = 0
        self.tried: list[Target] | None = None
        self.upstream: Upstream | None = None
        self.gone = False
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        proxy = self.proxy
        if len(proxy.clients) >= proxy.max_connections:
            self.gone = True
            self.transport.write(BUSY)
            self.transport.close()
            return
        proxy.clients.add(self)
        self.deadline = proxy.loop.time() + proxy.limits.head

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.proxy.clients.discard(self)
        if self.upstream is not None:
            self.upstream.abandon()
            self.upstream = None

    def eof_received(self) -> bool:
        """The client sent all it will (a half-close): answer what is complete, then close."""
        self.eof = True
        return self.busy

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and not self.upstream.closed:
            self.upstream.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.gone:
            return
        reader = self.reader
        reader.feed(data)
        if self.busy:
            if (reader.ready or reader.error is not None) and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        now = self.proxy.loop.time()
        self.arm(now)
        self.next_request(now)

    def arm(self, now: float) -> None:
        """Set the deadline of what the connection waits for now: a head, a body, a request."""
        reader, limits = self.reader, self.proxy.limits
        current = reader.current
        if current is None:
            self.deadline = now + limits.idle
        elif reader.in_head:
            if current is not self.seen:
                self.seen = current
                self.deadline = now + limits.head
        else:
            self.deadline = now + limits.body

    def expire(self, now: float) -> None:
        """Called by the sweep: close what waited past its deadline."""
        if self.busy:
            upstream = self.upstream
            if upstream is not None and upstream.deadline <= now:
                upstream.timed_out()
            return
        if now < self.deadline:
            return
        if self.reader.current is not None:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()

    def next_request(self, now: float) -> None:
        reader = self.reader
        if reader.ready:
            self.request = request = reader.ready.popleft()
            self.method = request.method
            self.busy = True
            self.tries = self.timeouts = 0
            self.tried = None
            self.t0 = now
            self.dispatch()
            return
        if reader.error is not None:
            self.reply(reader.error, close=True)
            return
        current = reader.current
        if current is not None and current.expect and not reader.in_head and not reader.continued:
            reader.continued = True
            self.transport.write(CONTINUE)

    def dispatch(self) -> None:
        proxy = self.proxy
        target = proxy.table.pick(self.t0, self.tried)
        if target is None:
            if self.tries == 0 and not proxy.table.cycle:
                proxy.table.no_backend += 1
                self.reply(NO_BACKEND)
            else:
                self.reply(GATEWAY_TIMEOUT if self.timeouts else BAD_GATEWAY)
            return
        self.tries += 1
        target.in_flight += 1
        idle = target.idle
        while idle:
            conn: Upstream = idle.pop()
            if not conn.closed:
                self.upstream = conn
                conn.start(self, True)
                return
        proxy.loop.create_task(self.connect(target))

    async def connect(self, target: Target) -> None:
        loop = self.proxy.loop
        try:
            async with asyncio.timeout(self.proxy.limits.connect):
                _, conn = await loop.create_connection(
                    lambda: Upstream(self.proxy, target), *target.addr
                )
        except (OSError, TimeoutError) as exc:
            target.in_flight -= 1
            target.down_until = loop.time() + DOWN_SECONDS
            if self.gone:
                return
            if isinstance(exc, TimeoutError):
                self.timeouts += 1
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
            self.reply(GATEWAY_TIMEOUT if self.timeouts else BAD_GATEWAY)
            return
        self.dispatch()

    def fail(self, answered: bool, answer: bytes) -> None:
        self.upstream = None
        if answered:
            self.transport.close()
        else:
            self.reply(answer)

    def reply(self, data: bytes, close: bool = False) -> None:
        self.upstream = None
        if self.gone:
            return
        self.transport.write(data)
        self.done(close)

    def done(self, close: bool, now: float | None = None) -> None:
        self.upstream = None
        self.busy = False
        request, self.request = self.request, None
        if close or self.closing or (request is not None and not request.keep_alive):
            self.transport.close()
            return
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if now is None:
            now = self.proxy.loop.time()
        self.arm(now)
        if not self.reader.idle or self.reader.error is not None:
            self.next_request(now)
        if self.eof and not self.busy:
            self.transport.close()


class Proxy:
    """The listening socket, the table and the clients; the admin API drives it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: ProxyLimits | None = None) -> None:
        self.loop = loop
        self.limits = limits or ProxyLimits()
        self.max_connections = connection_cap(self.limits.max_connections)
        self.sweeper: asyncio.Task[None] | None = None
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
        self.sweeper = self.loop.create_task(self.sweep())

    async def sweep(self) -> None:
        """Close, a few times a second, every connection that waited past its deadline."""
        tick = self.limits.tick()
        while True:
            await asyncio.sleep(tick)
            now = self.loop.time()
            for client in list(self.clients):
                client.expire(now)

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
        if self.sweeper is not None:
            self.sweeper.cancel()


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
    listen: str,
    admin: str,
    state_file: Path,
    grace: float,
    ready: Callable[[], None],
    limits: ProxyLimits | None = None,
    token_file: Path | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, limits)
    proxy.set_backends(load_state(state_file))
    token = ensure_token(token_file or state_file.with_name(TOKEN_NAME))
    admin_server = AdminServer(proxy, state_file, listen=listen, admin=admin, token=token)
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
    log.info("stopping: letting requests in flight finish (at most %gs)", grace)
    # Whatever happens to the loop from here, the process is gone shortly after the grace.
    watchdog = threading.Timer(grace + 2.0, os._exit, (1,))
    watchdog.daemon = True
    watchdog.start()
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
    parser.add_argument(
        "--token-file", type=Path, help=f"the admin API's token (default: {TOKEN_NAME} beside "
        "the state file; created, mode 0600, when missing)",
    )  # fmt: skip
    ProxyLimits.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        split_address(args.listen)
        admin_host, _ = split_address(args.admin)
        limits = ProxyLimits.from_args(args)
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
                serve(
                    args.listen,
                    args.admin,
                    args.state_file,
                    args.grace,
                    lambda: tell("ok"),
                    limits,
                    args.token_file,
                )  # fmt: skip
            )
    except OSError as exc:
        message = f"error: the proxy cannot listen: {exc}"
        print(message, file=sys.stderr)
        tell(message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
