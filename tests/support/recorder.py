"""A backend that records exactly which requests a proxy forwarded, for conformance tests.

It listens on 127.0.0.1 in a thread of its own and parses what it receives strictly (llhttp,
no leniency): each request it reads becomes a ``Seen`` (method, target, body), and bytes it
cannot parse become a ``Seen`` with ``bad`` set, so a test sees both how a proxy split a stream
into requests and whether it forwarded anything ambiguous. It answers ``GET /PATH`` with
``200`` and the body ``METHOD PATH BODYLENGTH`` (a victim can tell its own answer), and
``/r/NAME`` with the raw bytes ``answers[NAME]`` (a malformed answer under test), written in
parts with pauses between them, closing afterwards when the answer says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httptools


@dataclass(frozen=True)
class Seen:
    method: bytes
    target: bytes
    body: bytes
    bad: bool = False


@dataclass(frozen=True)
class Answer:
    """What ``/r/NAME`` gets: raw parts (with a pause before each but the first)."""

    parts: tuple[bytes, ...]
    pause: float = 0.0
    close: bool = False


@dataclass
class Recorder:
    port: int = 0
    answers: dict[str, Answer] = field(default_factory=dict)
    default: Answer | None = None
    """What every other request gets instead of the normal answer, when set."""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Seen]:
        with self.lock:
            out, self.seen[:] = list(self.seen), []
        return out

    def add(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)


class _Conn(asyncio.Protocol):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = b""
        self.queue: asyncio.Queue[tuple[bytes, bytes, int] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.task = asyncio.get_running_loop().create_task(self.answer())

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self.recorder.add(Seen(b"", b"", data, bad=True))
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body = b"", b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        self.recorder.add(Seen(method, self.url, self.body))
        self.queue.put_nowait((method, self.url, len(self.body)))

    async def answer(self) -> None:
        while (item := await self.queue.get()) is not None:
            method, target, length = item
            assert self.transport is not None
            name = target.decode("latin-1")
            answer = self.recorder.default
            if name.startswith("/r/") and name[3:] in self.recorder.answers:
                answer = self.recorder.answers[name[3:]]
            if answer is not None:
                for i, part in enumerate(answer.parts):
                    if i and answer.pause:
                        await asyncio.sleep(answer.pause)
                    if self.transport.is_closing():
                        return
                    self.transport.write(part)
                if answer.close:
                    self.transport.close()
                    return
                continue
            text = b"%s %s %d" % (method, target, length)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
            )


@contextmanager
def recording(
    answers: dict[str, Answer] | None = None, default: Answer | None = None
) -> Iterator[Recorder]:
    """A running recorder on a free port of 127.0.0.1, stopped afterwards."""
    recorder = Recorder(answers=dict(answers or {}), default=default)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: asyncio.Server | None = None

    async def start() -> None:
        nonlocal server
        server = await loop.create_server(lambda: _Conn(recorder), "127.0.0.1", 0)
        recorder.port = server.sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert started.wait(5), "the recording backend did not start"
    try:
        yield recorder
    finally:

        async def stop() -> None:
            assert server is not None
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
