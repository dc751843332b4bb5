"""The builtin proxy and HAProxy in front of one backend, and a raw client to attack them.

Conformance tests send the same bytes through both and compare what reached the backend. The
builtin proxy runs as its real process (``python -m runwright.routers.proxy``) with short
timeouts; HAProxy 2.6 runs in the foreground with a minimal configuration of the same timeouts.
``exchange`` is the attacker's and the victim's client: plain sockets, everything read until
the proxy closes or falls silent, within a deadline (a hang is a failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httptools

from tests.support.backend import ROOT, free_port

TIMEOUTS = {"head": 1.0, "body": 1.0, "idle": 2.0, "connect": 1.0, "response": 2.0}


@dataclass(frozen=True)
class Proxy:
    name: str
    port: int
    admin: int = 0


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def builtin_proxy(
    tmp: Path,
    backend_port: int,
    preexec: Callable[[], None] | None = None,
    canary: int = 0,
    **options: float,
) -> Iterator[tuple[Proxy, subprocess.Popen[bytes]]]:
    """The builtin proxy routing everything to ``backend_port`` (``options``: its limits),
    or half of it to a ``canary`` port when one is given."""
    port, admin = free_port(), free_port()
    state = tmp / "builtin.json"
    table = [{"name": "v1", "host": "127.0.0.1", "port": backend_port, "weight": 100}]
    if canary:
        table.append({"name": "v2", "host": "127.0.0.1", "port": canary, "weight": 100})
    state.write_text(json.dumps({"backends": table}))
    args = [
        sys.executable, "-m", "runwright.routers.proxy",
        "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
        "--state-file", str(state), "--grace", "2",
    ]  # fmt: skip
    for key, value in {**TIMEOUTS, **options}.items():
        args += [f"--{key.replace('_', '-')}", f"{value:g}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = (tmp / "builtin.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec)
    try:
        _wait_listening(port, proc, "the builtin proxy")
        yield Proxy("builtin", port, admin), proc
    finally:
        _stop(proc)
        log.close()


@contextmanager
def haproxy(tmp: Path, backend_port: int) -> Iterator[Proxy]:
    """HAProxy 2.6 with the same timeouts, routing everything to ``backend_port``."""
    port = free_port()
    config = tmp / "haproxy.cfg"
    config.write_text(
        "\n".join(
            [
                "global",
                "    maxconn 512",
                "defaults",
                "    mode http",
                f"    timeout connect {TIMEOUTS['connect']:g}s",
                f"    timeout client {TIMEOUTS['idle']:g}s",
                f"    timeout server {TIMEOUTS['response']:g}s",
                f"    timeout http-request {TIMEOUTS['head']:g}s",
                f"    timeout http-keep-alive {TIMEOUTS['idle']:g}s",
                "frontend fe",
                f"    bind 127.0.0.1:{port}",
                "    default_backend be",
                "backend be",
                f"    server s1 127.0.0.1:{backend_port}",
                "",
            ]
        )
    )
    log = (tmp / "haproxy.log").open("wb")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=log)
    try:
        _wait_listening(port, proc, "HAProxy")
        yield Proxy("haproxy", port)
    finally:
        _stop(proc)
        log.close()


def exchange(
    port: int, data: bytes, deadline: float = 4.0, quiet: float = 0.0, half_close: bool = False
) -> bytes:
    """Send ``data`` and read until the proxy closes (or, with ``quiet``, until it has been
    silent that long after answering something); AssertionError on a hang past ``deadline``."""
    end = time.monotonic() + deadline
    out = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        with contextlib.suppress(OSError):  # refused mid-way: its answer is still read below
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close within {deadline}s; got {bytes(out[:300])!r}")
            sock.settimeout(min(left, quiet) if quiet and out else left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if quiet and out:
                    break
                continue
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


class _Statuses:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.codes.append(self.parser.get_status_code())


def statuses(answer: bytes) -> list[int]:
    """The status codes of the answers in ``answer``, in order, as far as it parses."""
    seen = _Statuses()
    with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
        seen.parser.feed_data(answer)
    return seen.codes
