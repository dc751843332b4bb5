"""The default router: runwright's own proxy (``proxy.py``), steered through its admin API.

Zero set-up is the point: a release on a bare host needs no load balancer installed. This
controller starts the proxy as a daemon the first time (``ensure_started``), attaches to the
running one on later runs through its state file, and implements the router contract over the
admin API with httpx: ``apply`` puts the new table in one PUT (the proxy swaps its whole table
in one step, so the backends that gain are there the instant the others lose: make-before-break
without the intermediate table ``transition`` computes for routers that change backends one by
one, and a rollback's write takes one round trip), ``drain`` polls a backend's requests in
flight, ``counters`` reads ``/stats``. Every admin request carries the proxy's token
(``token.py``, created before the proxy is launched, read again when attaching). Library errors
become DriverError here, with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httptools
import httpx

from runwright.engine.clock import Clock, SystemClock
from runwright.engine.private import private_dir, private_file
from runwright.errors import DriverError
from runwright.routers.base import (
    Backend,
    BackendCounters,
    RouterSettings,
    check_table,
    split_address,
)
from runwright.routers.limits import ProxyLimits
from runwright.routers.process import alive, launch, terminate
from runwright.routers.state import read_state
from runwright.routers.token import TOKEN_NAME, ensure_token

log = logging.getLogger(__name__)

MARKER = "runwright.routers.proxy"


@dataclass(frozen=True)
class BuiltinSettings(RouterSettings):
    """The builtin proxy's options: its admin API address, its timeouts and connection limit,
    and the Python that runs it."""

    admin: str = "127.0.0.1:8081"
    python: str = field(default_factory=lambda: sys.executable)
    limits: ProxyLimits = field(default_factory=ProxyLimits)

    def addresses(self) -> tuple[str, ...]:
        return (self.listen, self.admin)


class BuiltinRouter:
    """Controller of one builtin proxy, whose files live under ``settings.state_dir/router``."""

    def __init__(self, settings: BuiltinSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.dir = settings.state_dir / "router"
        self.state_file = self.dir / "builtin.json"
        self.log_file = self.dir / "builtin.log"
        self.token_file = self.dir / TOKEN_NAME
        self.token = ""
        self.admin = settings.admin
        self.pid = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        self.token = ensure_token(self.token_file)
        record = read_state(self.state_file)
        pid = record.pid
        if alive(pid, MARKER):
            self.admin = record.admin or self.settings.admin
            status = await self._status_or_none()
            if status is not None and status.get("pid") == pid:
                self.pid = pid
                return
        self.admin = self.settings.admin
        private_dir(self.dir)
        private_file(self.log_file)  # the proxy appends to it: it keeps this mode
        argv = [
            self.settings.python, "-m", MARKER,
            "--listen", self.settings.listen,
            "--admin", self.settings.admin,
            "--state-file", str(self.state_file),
            "--log-file", str(self.log_file),
            "--token-file", str(self.token_file),
            "--grace", str(self.settings.stop_timeout),
            "--daemon",
            *self.settings.limits.as_args(),
        ]  # fmt: skip
        await launch(
            argv,
            self.settings.start_timeout,
            f"the router on {self.settings.listen}",
            self.clock,
            hint="is another program listening on the listen or admin address?",
        )
        status = await self._request("GET", "/status")
        self.pid = int(status["pid"])
        log.info("started the builtin router (pid %d) on %s", self.pid, self.settings.listen)

    async def stop(self) -> None:
        """Stop the proxy (letting requests in flight finish); a no-op when none runs."""
        pid = self.pid or read_state(self.state_file).pid
        if await terminate(pid, MARKER, self.settings.stop_timeout + 1, self.clock):
            log.info("stopped the builtin router (pid %d)", pid)
        self.pid = 0

    # -- the contract ------------------------------------------------------------------------

    async def apply(self, backends: Sequence[Backend]) -> None:
        check_table(backends)
        table = sorted(backends, key=lambda b: b.name)
        await self._request("PUT", "/backends", {"backends": [b.to_dict() for b in table]})

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        deadline = self.clock.monotonic() + timeout
        while True:
            try:
                state = await self._request("GET", f"/backends/{name}")
            except _NotFound:
                return
            if int(state["in_flight"]) == 0:
                return
            if self.clock.monotonic() >= deadline:
                raise DriverError(
                    f"backend {name} still has {state['in_flight']} requests in flight "
                    f"after {timeout:g}s",
                    hint="a request may be stuck in the service; stop it anyway or wait longer",
                )
            await self.clock.sleep(self.settings.poll_interval)

    async def counters(self) -> dict[str, BackendCounters]:
        return parse_stats(await self._request("GET", "/stats"))

    def watch(self) -> BuiltinWatch:
        """Follow the counters as requests are counted (a long poll of ``/stats``)."""
        return BuiltinWatch(self.admin, self.clock, self._token())

    async def backends(self) -> list[Backend]:
        """The table the proxy routes by now."""
        status = await self._request("GET", "/status")
        return [Backend.from_dict(b) for b in status["backends"]]

    # -- admin API ---------------------------------------------------------------------------

    async def _status_or_none(self) -> dict[str, Any] | None:
        try:
            return await self._request("GET", "/status")
        except _Unauthorized:
            raise
        except DriverError:
            return None

    def _token(self) -> str:
        if not self.token:
            self.token = ensure_token(self.token_file)
        return self.token

    async def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = f"http://{self.admin}{path}"
        auth = {"Authorization": f"Bearer {self._token()}"}
        try:
            # Plain HTTP on loopback: no TLS context to build, no proxy settings to honour.
            async with httpx.AsyncClient(timeout=5.0, verify=False, trust_env=False) as client:
                response = await client.request(method, url, json=body, headers=auth)
        except httpx.HTTPError as exc:
            raise DriverError(
                f"the builtin router's admin API at {self.admin} did not answer: {exc}",
                hint="run the release again: runwright restarts the router if it is gone",
            ) from None
        if response.status_code == 404 and path.startswith("/backends/"):
            raise _NotFound(path)
        if response.status_code == 401:
            raise _Unauthorized(
                f"the builtin router at {self.admin} refused runwright's token ({self.token_file})",
                hint="the token file was replaced while the router ran: stop the router "
                "(its pid is in builtin.json beside it) and run again to start a new one",
                retryable=False,
            )
        if response.status_code != 200:
            raise DriverError(
                f"the builtin router refused {method} {path}: HTTP {response.status_code} "
                f"{response.text.strip()}",
                retryable=False,
            )
        data: dict[str, Any] = response.json()
        return data


class _NotFound(DriverError):
    pass


class _Unauthorized(DriverError):
    pass


class _Answer:
    """llhttp's callbacks for one answer of the admin API at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.begin()

    def begin(self) -> None:
        self.body = bytearray()
        self.status = 0
        self.complete = False
        self.keep_alive = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


def parse_stats(data: dict[str, Any]) -> dict[str, BackendCounters]:
    out = {}
    for s in data["backends"]:
        out[s["name"]] = BackendCounters(
            name=s["name"],
            requests=s["requests"],
            errors_5xx=s["errors_5xx"],
            failures=s["failures"],
            in_flight=s["in_flight"],
            weight=s["weight"],
            latency_count=s["latency_count"],
            latency_sum=s["latency_sum"],
            latency_buckets=tuple((float(b), int(c)) for b, c in s["latency_buckets"]),
        )
    return out


class BuiltinWatch:
    """One keep-alive connection to the admin API, answered when the counters change.

    A sequential check reads the counters hundreds of times a second under load, so this
    keeps one connection and parses the answers with llhttp (httptools) over plain asyncio
    streams, where an httpx client took about 500 us of CPU a reading, CPU the router and the
    service's load need on a small machine."""

    def __init__(self, admin: str, clock: Clock, token: str) -> None:
        self.admin, self.clock = admin, clock
        self.request_head = f"Host: {admin}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.answer = _Answer()

    async def next(self, after: int, wait: float) -> tuple[int, dict[str, BackendCounters]]:
        try:
            async with self.clock.timeout(wait + 5.0):
                data = await self._get(f"/stats?after={after}&wait={wait:.3f}")
            return int(data.get("generation", 0)), parse_stats(data)
        except (OSError, TimeoutError, ValueError, KeyError, httptools.HttpParserError) as exc:
            await self.aclose()
            raise DriverError(
                f"the builtin router's counters at {self.admin} could not be read: {exc!r}"
            ) from None

    async def _get(self, path: str) -> dict[str, Any]:
        if self.streams is None:
            host, port = split_address(self.admin)
            self.streams = await asyncio.open_connection(host, port)
            self.answer = _Answer()
        reader, writer = self.streams
        answer = self.answer
        answer.begin()
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.request_head)
        while not answer.complete:
            data = await reader.read(65536)
            if not data:
                raise ValueError("the admin API closed the connection")
            answer.parser.feed_data(data)
        if not answer.keep_alive:
            await self.aclose()
        if answer.status != 200:
            body = bytes(answer.body[:200]).decode(errors="replace")
            raise ValueError(f"HTTP {answer.status}: {body}")
        result: dict[str, Any] = json.loads(answer.body)
        return result

    async def aclose(self) -> None:
        if self.streams is not None:
            _, writer = self.streams
            self.streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
