"""The HAProxy router: weights and addresses change through the runtime API, never by reload.

runwright writes the configuration once (one frontend, one backend with ``slots`` pre-declared
servers parked in maintenance, a stats socket with ``level admin``), starts HAProxy as a daemon
(or attaches to the one it started before, through its pid file) and from then on only talks to
the stats socket: ``set server be/sN addr|weight|state``, ``show stat``. Which version sits in
which slot is kept in ``slots.json`` beside the config; a HAProxy that has to be started again
gets a config that already holds that table.

Why naive weight flips lost ~3% of requests, and what this module does about each cause:

- lowering the old server before raising the new one leaves a moment with no usable server
  (503 "no server available"): ``transition`` raises first, and a new server must be reported
  UP by its health check before anything is lowered;
- a server stopped while HAProxy still holds idle keep-alive connections to it: the next
  request sent on one gets an empty answer (502), and a refused connection is retried, by
  default, against the same dead server: the config sets ``retries``, ``option redispatch 1``
  (retry on another server) and ``retry-on conn-failure empty-response response-timeout``;
- weight 0 alone does not finish requests in flight before the slot is reused or put in
  maintenance: a removed server first goes to ``state drain`` and only to ``maint`` once
  ``show stat`` reports no session on it;
- a slot readied with a new address used to start without a health check, so a version that
  was not listening yet took traffic: slots carry ``check`` and are only trusted once UP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from runwright.engine.clock import Clock, SystemClock
from runwright.errors import DriverError
from runwright.routers.base import (
    Backend,
    BackendCounters,
    RouterSettings,
    split_address,
    transition,
)
from runwright.routers.process import alive, launch, terminate

log = logging.getLogger(__name__)

BACKEND = "be_app"
ERRORS = ("No such", "Invalid", "denied", "Unknown command", "Require", "error", "cannot")


@dataclass(frozen=True)
class HAProxySettings(RouterSettings):
    """HAProxy's options: the binary, and how many server slots its backend has (a release
    needs two; more let several versions take traffic at once)."""

    haproxy: str = "haproxy"
    slots: int = 8


@dataclass(frozen=True)
class Slot:
    """A pre-declared server; ``name`` is the version in it, empty when the slot is free."""

    server: str
    name: str = ""
    host: str = "127.0.0.1"
    port: int = 1
    weight: int = 0
    state: str = "maint"  # ready | drain | maint

    @property
    def backend(self) -> Backend:
        return Backend(self.name, self.host, self.port, self.weight)


def empty_slots(count: int) -> list[Slot]:
    return [Slot(server=f"s{i}") for i in range(1, count + 1)]


def render_config(settings: HAProxySettings, slots: Sequence[Slot], socket: Path) -> str:
    """The whole HAProxy configuration, with the slots' current addresses and states."""
    host, port = split_address(settings.listen)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [
        "# Written by runwright. Traffic changes go through the stats socket, not this file.",
        "global",
        f"    stats socket {socket} mode 600 level admin",
        "    stats timeout 30s",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 30s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        "",
        "frontend fe_app",
        f"    bind {bind}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance roundrobin",
        "    default-server check inter 500ms fall 2 rise 1",
    ]
    for slot in slots:
        addr = f"[{slot.host}]:{slot.port}" if ":" in slot.host else f"{slot.host}:{slot.port}"
        extra = " disabled" if slot.state == "maint" else ""
        lines.append(f"    server {slot.server} {addr} weight {slot.weight}{extra}")
    return "\n".join(lines) + "\n"


def parse_stat(text: str) -> dict[str, dict[str, str]]:
    """``show stat`` CSV -> {server: {field: value}} for the servers of our backend."""
    rows = [line for line in text.splitlines() if line.strip()]
    if not rows or not rows[0].startswith("# "):
        raise DriverError(f"unexpected answer from HAProxy's show stat: {text[:200]!r}")
    header = rows[0][2:].split(",")
    out = {}
    for row in rows[1:]:
        record = dict(zip(header, row.split(","), strict=False))
        if record.get("pxname") == BACKEND and record.get("svname") not in ("BACKEND", None):
            out[record["svname"]] = record
    return out


def assign(slots: Sequence[Slot], table: Sequence[Backend]) -> list[Slot]:
    """Slots after routing by ``table``: a name keeps its slot when its address is unchanged,
    new ones take free slots, names not in the table are drained (kept until empty)."""
    wanted = {b.name: b for b in table}
    out = list(slots)
    placed: set[str] = set()
    for i, slot in enumerate(out):
        b = wanted.get(slot.name)
        same = b is not None and (b.host, b.port) == (slot.host, slot.port)
        if slot.name and b is not None and same and slot.name not in placed:
            out[i] = replace(slot, weight=b.weight, state="ready")
            placed.add(slot.name)
            continue
        if slot.name and slot.state != "maint":
            out[i] = replace(slot, weight=0, state="drain")
    for b in table:
        if b.name in placed:
            continue
        free = next((i for i, s in enumerate(out) if s.state == "maint"), None)
        if free is None:
            raise DriverError(
                f"no free HAProxy slot for {b.name}: all {len(out)} are in use or draining",
                hint="wait for old versions to drain, or raise the router's slots setting",
            )
        out[free] = Slot(out[free].server, b.name, b.host, b.port, b.weight, "ready")
        placed.add(b.name)
    return out


SUN_PATH_MAX = 97


def socket_path(directory: Path) -> Path:
    """Where the stats socket lives: in ``directory`` unless that path is too long for a unix
    socket (HAProxy allows 97 bytes), then under a short per-user directory in the temp dir,
    named after ``directory`` so that a restarted runwright finds the same socket again."""
    path = directory / "admin.sock"
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        return path
    short = Path(tempfile.gettempdir()) / f"runwright-{os.getuid()}"
    short.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(os.fsencode(directory.resolve())).hexdigest()[:16]
    return short / f"haproxy-{digest}.sock"


class HAProxyRouter:
    """Controller of one HAProxy whose files live under ``settings.state_dir/haproxy``."""

    def __init__(self, settings: HAProxySettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.dir = settings.state_dir / "haproxy"
        self.config = self.dir / "haproxy.cfg"
        self.socket = socket_path(self.dir)
        self.pidfile = self.dir / "haproxy.pid"
        self.slots_file = self.dir / "slots.json"
        self.pid = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def load_slots(self) -> list[Slot]:
        try:
            data = json.loads(self.slots_file.read_text())
            slots = [Slot(**s) for s in data["slots"]]
        except (OSError, ValueError, KeyError, TypeError):
            return empty_slots(self.settings.slots)
        return slots

    def save_slots(self, slots: Sequence[Slot]) -> None:
        tmp = self.slots_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"slots": [s.__dict__ for s in slots]}, indent=1))
        tmp.replace(self.slots_file)

    def _recorded_pid(self) -> int:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    async def ensure_started(self) -> None:
        pid = self._recorded_pid()
        if alive(pid, str(self.config)):
            self.pid = pid
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        slots = self.load_slots()
        self.config.write_text(render_config(self.settings, slots, self.socket))
        self.socket.unlink(missing_ok=True)
        argv = [self.settings.haproxy, "-D", "-p", str(self.pidfile), "-f", str(self.config)]
        await launch(
            argv,
            self.settings.start_timeout,
            f"HAProxy on {self.settings.listen}",
            self.clock,
            hint=f"see {self.config}; is another program listening on {self.settings.listen}?",
        )
        self.pid = self._recorded_pid()
        self.save_slots(slots)
        log.info("started HAProxy (pid %d) on %s", self.pid, self.settings.listen)

    async def stop(self) -> None:
        pid = self.pid or self._recorded_pid()
        if await terminate(pid, str(self.config), self.settings.stop_timeout, self.clock):
            log.info("stopped HAProxy (pid %d)", pid)
        self.pid = 0

    # -- the contract ------------------------------------------------------------------------

    async def apply(self, backends: Sequence[Backend]) -> None:
        slots = await self._reap(self.load_slots())
        current = [s.backend for s in slots if s.name and s.state == "ready"]
        for table in transition(current, backends):
            new = assign(slots, table)
            pairs = list(zip(slots, new, strict=True))
            raised = [(o, n) for o, n in pairs if _raises(o, n)]
            for o, n in raised:
                await self._ready(n, old=o)
            await self._wait_up([n.server for _, n in raised if n.weight > 0])
            for o, n in pairs:
                if n == o or _raises(o, n):
                    continue
                if n.state == "drain":
                    await self.command(f"set server {BACKEND}/{n.server} state drain")
                else:
                    await self.command(f"set server {BACKEND}/{n.server} weight {n.weight}")
            slots = new
            self.save_slots(slots)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        deadline = self.clock.monotonic() + timeout
        while True:
            slots = self.load_slots()
            mine = [s for s in slots if s.name == name and s.state != "maint"]
            if not mine:
                return
            stats = await self.stats()
            busy = sum(_busy(stats.get(s.server, {})) for s in mine)
            if busy == 0:
                self.save_slots(await self._reap(slots))
                return
            if self.clock.monotonic() >= deadline:
                raise DriverError(
                    f"backend {name} still has {busy} requests in flight after {timeout:g}s",
                    hint="a request may be stuck in the service; stop it anyway or wait longer",
                )
            await self.clock.sleep(self.settings.poll_interval)

    async def counters(self) -> dict[str, BackendCounters]:
        stats = await self.stats()
        out: dict[str, BackendCounters] = {}
        for slot in self.load_slots():
            row = stats.get(slot.server)
            if not slot.name or row is None:
                continue
            codes = [_int(row.get(f"hrsp_{k}xx")) for k in range(1, 6)]
            counter = BackendCounters(
                name=slot.name,
                requests=sum(codes) + _int(row.get("hrsp_other")) + _int(row.get("eresp")),
                errors_5xx=codes[4],
                failures=_int(row.get("econ")) + _int(row.get("eresp")),
                in_flight=_busy(row),
                weight=slot.weight,
                latency_avg_ms=float(_int(row.get("ttime"))),
            )
            prev = out.get(slot.name)
            if prev is not None:
                counter = replace(
                    counter,
                    requests=counter.requests + prev.requests,
                    errors_5xx=counter.errors_5xx + prev.errors_5xx,
                    failures=counter.failures + prev.failures,
                    in_flight=counter.in_flight + prev.in_flight,
                )
            out[slot.name] = counter
        return out

    # -- runtime API -------------------------------------------------------------------------

    async def stats(self) -> dict[str, dict[str, str]]:
        return parse_stat(await self.command("show stat"))

    async def command(self, line: str) -> str:
        """Send one command to the stats socket; its answer, or DriverError."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.socket))
        except OSError as exc:
            raise DriverError(
                f"HAProxy's stats socket {self.socket} does not answer: {exc}",
                hint="run the release again: runwright restarts HAProxy if it is gone",
            ) from None
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            answer = (await reader.read()).decode(errors="replace")
        except OSError as exc:
            raise DriverError(f"HAProxy's stats socket failed during {line!r}: {exc}") from None
        finally:
            writer.close()
        text = answer.strip()
        if line.startswith("set ") and any(e in text for e in ERRORS):
            raise DriverError(f"HAProxy refused {line!r}: {text}", retryable=False)
        log.debug("haproxy %s -> %s", line, text)
        return answer

    async def _ready(self, slot: Slot, old: Slot) -> None:
        server = f"{BACKEND}/{slot.server}"
        if slot.weight > 0:
            await _probe(slot, self.clock)
        if (old.host, old.port) != (slot.host, slot.port) or old.state == "maint":
            if old.state != "maint":
                await self.command(f"set server {server} state maint")
            await self.command(f"set server {server} addr {slot.host} port {slot.port}")
        await self.command(f"set server {server} weight {slot.weight}")
        if old.state != "ready":
            await self.command(f"set server {server} state ready")

    async def _wait_up(self, servers: Sequence[str]) -> None:
        if not servers:
            return
        deadline = self.clock.monotonic() + self.settings.start_timeout
        while True:
            stats = await self.stats()
            down = [s for s in servers if not stats.get(s, {}).get("status", "").startswith("UP")]
            if not down:
                return
            if self.clock.monotonic() >= deadline:
                raise DriverError(
                    f"HAProxy does not see {', '.join(down)} as UP after "
                    f"{self.settings.start_timeout:g}s: traffic was not moved off the others",
                    hint="is the new version listening on the address given?",
                )
            await self.clock.sleep(self.settings.poll_interval)

    async def _reap(self, slots: list[Slot]) -> list[Slot]:
        """Put drained slots that have no session left into maintenance: free again."""
        if not any(s.state == "drain" for s in slots):
            return slots
        stats = await self.stats()
        out = []
        for slot in slots:
            if slot.state == "drain" and _busy(stats.get(slot.server, {})) == 0:
                await self.command(f"set server {BACKEND}/{slot.server} state maint")
                slot = Slot(slot.server)
            out.append(slot)
        return out


async def _probe(slot: Slot, clock: Clock) -> None:
    """HAProxy counts a slot leaving maintenance as UP before its first check: look first."""
    try:
        async with clock.timeout(2.0):
            _, writer = await asyncio.open_connection(slot.host, slot.port)
    except (OSError, TimeoutError) as exc:
        raise DriverError(
            f"{slot.name} does not accept connections on {slot.host}:{slot.port} ({exc}); "
            "no traffic was moved",
            hint="start the new version first and check its port",
        ) from None
    writer.close()


def _raises(old: Slot, new: Slot) -> bool:
    return new.state == "ready" and (
        old.state != "ready"
        or new.weight > old.weight
        or (old.host, old.port) != (new.host, new.port)
    )


def _busy(row: dict[str, str]) -> int:
    return _int(row.get("scur")) + _int(row.get("qcur"))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
