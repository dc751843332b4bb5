"""A tiny HTTP backend for router tests: answers every request with its name.

Each answer carries the backend's name in the ``X-Version`` header and the body, so a test (or
the load generator) can tell which side of a release served it. It keeps connections alive,
answers pipelined requests in order, and on SIGTERM stops listening, closes idle connections and
finishes the requests in flight, the way a well-behaved service does. ``?sleep=0.2`` delays the
answer, for drain tests. Run it as ``python -m tests.support.backend --name v1 --port 0``: it
prints ``listening on PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    name: str
    port: int
    proc: subprocess.Popen[str]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn(name: str, port: int = 0) -> Running:
    """Start a backend process and wait for its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.backend", "--name", name, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"backend {name} did not start: {line!r}")
    return Running(name, int(line.split()[-1]), proc)


@contextmanager
def running(*names: str) -> Iterator[list[Running]]:
    started: list[Running] = []
    try:
        for name in names:
            started.append(spawn(name))
        yield started
    finally:
        for backend in started:
            backend.stop()


class Handler(asyncio.Protocol):
    def __init__(self, name: bytes, conns: set[Handler]) -> None:
        self.name = name
        self.conns = conns
        self.buf = b""
        self.busy = 0
        self.stopping = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            low = head.lower()
            length = 0
            at = low.find(b"\ncontent-length:")
            if at >= 0:
                length = int(low[at + 16 :].split(b"\r", 1)[0])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            target = head.split(b" ", 2)[1]
            if b"sleep=" in target:
                delay = float(target.split(b"sleep=", 1)[1].split(b"&", 1)[0])
                self.busy += 1
                asyncio.get_running_loop().call_later(delay, self.answer, True)
                return
            self.answer(False)

    def answer(self, delayed: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = self.name + b"\n"
        close = b"Connection: close\r\n" if self.stopping else b""
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nX-Version: "
            + self.name
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n"
            + close
            + b"\r\n"
            + body
        )
        if delayed:
            self.busy -= 1
        if self.stopping:
            self.transport.close()
        elif delayed and self.buf:
            self.data_received(b"")


async def serve(name: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    conns: set[Handler] = set()
    server = await loop.create_server(
        lambda: Handler(name.encode(), conns), host, port, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    for conn in list(conns):
        conn.stopping = True
        if not conn.busy and conn.transport is not None:
            conn.transport.close()
    for _ in range(200):
        if not any(c.busy for c in conns):
            break
        await asyncio.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.name, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
