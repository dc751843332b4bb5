"""The ``local`` driver: each version of a service is a process on this host, on its own port.

Blue-green and canary need two versions side by side, so every start picks a free port and
fills it into the runbook's command template (``{{ port }}``, ``{{ version }}``, ``{{ host }}``,
shell-quoted by the sandboxed renderer), runs it with ``/bin/sh -c`` and waits until its health
path answers 2xx. The process runs in a session of its own, detached from runwright: if
runwright is killed, the versions keep serving users, and ``instances()`` finds them again from
their pid files (see ``pidfiles``). Output goes to ``STATE_DIR/services/<service>/<version>.log``;
when a version exits or never becomes healthy, the error carries the last lines of it and
nothing is left running. Stopping signals the whole process group, so whatever the command
forked goes too: SIGTERM first, SIGKILL once the grace period is over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runwright.drivers.base import Instance, ServiceSpec
from runwright.drivers.pidfiles import PidFiles, group_members, is_running, process_info, safe_name
from runwright.engine.clock import Clock, SystemClock
from runwright.errors import DriverError
from runwright.model.templating import outside, render

log = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The wrapper runs in a new session and exits at once; the command runs in the background,
# inherits the session and process group, and is reparented to init: nobody has to reap it.
_LAUNCH = '{exports}/bin/sh -c "$1" </dev/null >>"$2" 2>&1 & echo "$! $$"'


@dataclass(frozen=True)
class LocalSettings:
    """Where the local driver keeps its files and how it probes.

    ``host`` is the address services listen on and are probed at; ``kill_wait`` bounds the wait
    for processes to vanish after SIGKILL. ``reserved_ports`` are never given to a version
    even when free now: the router's listen and admin ports before the router has started.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    probe_timeout: float = 2.0
    poll_interval: float = 0.1
    kill_wait: float = 5.0
    tail_lines: int = 20
    reserved_ports: frozenset[int] = frozenset()


def free_port(host: str) -> int:
    """A port nobody listens on now (the kernel's pick for a bind to port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def render_command(spec: ServiceSpec, *, host: str, port: int, version: str) -> str:
    """The command for one version, every value shell-quoted (InputError on a bad template)."""
    context: dict[str, Any] = dict(spec.variables)
    context.update(host=host, port=port, version=outside(version, "the version"), service=spec.name)
    return render(spec.command, context, shell=True, where=f"service {spec.name} command")


async def probe(host: str, port: int, path: str, wait: float, clock: Clock) -> int | None:
    """The HTTP status ``GET path`` gets now, or None when nothing answers in time."""
    target = f"[{host}]" if ":" in host else host
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {target}:{port}\r\nUser-Agent: runwright\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    try:
        async with clock.timeout(wait):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(request)
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def read_tail(path: Path, offset: int, lines: int) -> list[str]:
    """The last ``lines`` lines written to ``path`` after ``offset``."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


class LocalDriver:
    """Runs versions as local processes; see the module docstring."""

    def __init__(self, settings: LocalSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.pidfiles = PidFiles(settings.state_dir)
        self._starting: set[int] = set()

    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        host = self.settings.host
        port = self._pick_port(host)
        self._starting.add(port)
        try:
            return await self._start_on(spec, version, host, port)
        finally:
            self._starting.discard(port)

    def _pick_port(self, host: str) -> int:
        # A port handed to a start still in progress is not listened on yet: never reuse it.
        try:
            for _ in range(50):
                port = free_port(host)
                if port not in self._starting and port not in self.settings.reserved_ports:
                    return port
        except OSError as exc:
            raise DriverError(
                f"cannot find a free port on {host}: {exc.strerror or exc}",
                retryable=False,
                hint="check the driver's host setting (an address of this machine)",
            ) from None
        raise DriverError(f"cannot find a free port on {host}")

    async def _start_on(self, spec: ServiceSpec, version: str, host: str, port: int) -> Instance:
        command = render_command(spec, host=host, port=port, version=version)
        directory = self.pidfiles.directory(spec.name)
        logfile = directory / f"{safe_name(version)}.log"
        offset = self._open_log(logfile, version, port, command)
        pid, pgid = await self._spawn(spec, command, logfile)
        info = process_info(pid)
        instance = Instance(
            service=spec.name,
            version=version,
            host=host,
            port=port,
            pid=pid,
            started_at=self.clock.now(),
            pgid=pgid,
            start_ticks=info.start_ticks if info is not None else 0,
            health=spec.health,
            command=command,
            log=str(logfile),
        )
        log.info("started %s: %s", instance.describe(), command)
        try:
            self.pidfiles.write(instance)
            await self._wait_healthy(spec, instance, offset)
        except BaseException:
            await self._terminate(instance, min(spec.stop_timeout, 5.0))
            self.pidfiles.remove(instance)
            raise
        return instance

    async def stop(self, instance: Instance, grace: float) -> None:
        if is_running(instance):
            await self._terminate(instance, grace)
            log.info("stopped %s", instance.describe())
        self.pidfiles.remove(instance)

    async def instances(self, service: str) -> list[Instance]:
        found = []
        for path, instance in self.pidfiles.read(service):
            if is_running(instance):
                found.append(instance)
            else:
                log.info("forgetting %s: its process is gone", instance.describe())
                path.unlink(missing_ok=True)
        return sorted(found, key=lambda i: (i.started_at, i.port))

    async def healthy(self, instance: Instance) -> bool:
        if not is_running(instance):
            return False
        status = await probe(
            instance.host, instance.port, instance.health, self.settings.probe_timeout, self.clock
        )
        return status is not None and 200 <= status < 300

    def _open_log(self, logfile: Path, version: str, port: int, command: str) -> int:
        try:
            logfile.parent.mkdir(parents=True, exist_ok=True)
            with logfile.open("a", encoding="utf-8") as fh:
                fh.write(
                    f"--- runwright: starting {version} on port {port} at "
                    f"{self.clock.now().isoformat()}: {command}\n"
                )
                return fh.tell()
        except OSError as exc:
            raise DriverError(
                f"cannot write the log file {logfile}: {exc.strerror or exc}",
                retryable=False,
                hint="check the state directory's permissions",
            ) from None

    async def _spawn(self, spec: ServiceSpec, command: str, logfile: Path) -> tuple[int, int]:
        """Launch ``command`` detached; return its pid and its process group (= session) id."""
        _check_cwd(spec)
        script = _LAUNCH.format(exports=_exports(spec.env))
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                script,
                "runwright-start",
                command,
                str(logfile),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=spec.cwd,
                start_new_session=True,
            )
            out, err = await proc.communicate()
        except OSError as exc:
            raise DriverError(f"cannot start {spec.name}: {exc.strerror or exc}") from None
        text = out.decode(errors="replace").strip()
        ids = text.split()
        if proc.returncode != 0 or len(ids) != 2 or not all(i.isdigit() for i in ids):
            raise DriverError(
                f"cannot start {spec.name}: the shell said "
                f"{err.decode(errors='replace').strip() or text!r}"
            )
        return int(ids[0]), int(ids[1])

    async def _wait_healthy(self, spec: ServiceSpec, instance: Instance, offset: int) -> None:
        deadline = self.clock.monotonic() + spec.start_timeout
        last = "nothing answered"
        while True:
            if not is_running(instance):
                raise self._failed(
                    spec,
                    instance.version,
                    "exited before it became healthy",
                    Path(instance.log),
                    offset,
                )
            status = await probe(
                instance.host, instance.port, spec.health, self.settings.probe_timeout, self.clock
            )
            if status is not None and 200 <= status < 300:
                log.info("%s is healthy", instance.describe())
                return
            if status is not None:
                last = f"last answer: HTTP {status}"
            if self.clock.monotonic() >= deadline:
                raise self._failed(
                    spec,
                    instance.version,
                    f"was not healthy within {spec.start_timeout:g}s "
                    f"(GET {spec.health} on port {instance.port}: {last})",
                    Path(instance.log),
                    offset,
                )
            await self.clock.sleep(self.settings.poll_interval)

    def _failed(
        self, spec: ServiceSpec, version: str, what: str, logfile: Path, offset: int
    ) -> DriverError:
        tail = read_tail(logfile, offset, self.settings.tail_lines)
        output = "\n".join(f"  | {line}" for line in tail) if tail else "  (no output)"
        return DriverError(
            f"{spec.name} {version} {what}; last output:\n{output}",
            retryable=False,
            hint=f"check the service command (full log: {logfile})",
        )

    async def _terminate(self, instance: Instance, grace: float) -> None:
        """SIGTERM the group, wait ``grace``, SIGKILL what is left; DriverError if it stays."""
        self._signal(instance, signal.SIGTERM)
        deadline = self.clock.monotonic() + max(grace, 0.0)
        while is_running(instance):
            if self.clock.monotonic() >= deadline:
                log.warning("%s ignored SIGTERM for %gs: killing it", instance.describe(), grace)
                self._signal(instance, signal.SIGKILL)
                break
            await self.clock.sleep(0.02)
        until = self.clock.monotonic() + self.settings.kill_wait
        while is_running(instance):
            if self.clock.monotonic() >= until:
                raise DriverError(
                    f"{instance.describe()} is still running after SIGKILL",
                    hint="it may be stuck in the kernel; check it with ps",
                )
            await self.clock.sleep(0.02)

    def _signal(self, instance: Instance, sig: signal.Signals) -> None:
        targets = group_members(instance.pgid)
        try:
            if targets:
                os.killpg(instance.pgid, sig)
            elif is_running(instance):
                os.kill(instance.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise DriverError(
                f"not allowed to signal {instance.describe()}",
                retryable=False,
                hint="run runwright as the user that started it",
            ) from None


def _check_cwd(spec: ServiceSpec) -> None:
    if spec.cwd is not None and not Path(spec.cwd).is_dir():
        raise DriverError(
            f"cannot start {spec.name}: its directory {spec.cwd} does not exist",
            retryable=False,
            hint="fix service.cwd in the runbook",
        )


def _exports(env: Mapping[str, str]) -> str:
    parts = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise DriverError(
                f"cannot set environment variable {name!r}: not a valid name",
                retryable=False,
                hint="use letters, digits and underscores",
            )
        parts.append(f"export {name}={shlex.quote(str(value))}; ")
    return "".join(parts)
