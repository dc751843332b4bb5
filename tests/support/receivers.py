"""Local receivers for notification tests: real HTTP servers on 127.0.0.1 that record what
they get and answer as the services they stand for would.

``Receiver`` records every request (method, path, headers, body) and answers through a
handler; ``slack_api`` answers ``chat.postMessage``/``chat.update`` as Slack's Web API does
(a ``ts`` per message, ``ok: true``); ``status_pages`` answers Statuspage's and Cachet's
incident endpoints with ids. None of them is a fake of runwright's own code: they check the
payloads the real sinks send.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, Any] | None]
Handler = Callable[[Request], Answer]


@dataclass
class Receiver:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.requests]


def signed_by(secret: str, req: Request, *, max_age: float = 300.0) -> bool:
    """What a webhook receiver checks (docs/notifications.md): the HMAC-SHA256 of
    ``<timestamp>.<body>`` matches, and the timestamp is within ``max_age`` of now."""
    stamp = req.headers.get("X-Runwright-Timestamp", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > max_age:
        return False
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + req.body, hashlib.sha256)
    return hmac.compare_digest(
        req.headers.get("X-Runwright-Signature", ""), "sha256=" + mac.hexdigest()
    )


@contextmanager
def trickling(interval: float = 5.0) -> Iterator[str]:
    """A server on 127.0.0.1 (its URL) that reads a request and answers one byte every
    ``interval`` seconds, never finishing: a receiver that would hold a sender for ever."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
                if stop.wait(interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        thread.join(5)


@contextmanager
def receiver(handler: Handler, port: int = 0) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 (on ``port``, or a free one) that records each request
    and answers with ``handler``."""
    rec = Receiver()

    class _Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            req = Request(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            with rec.lock:
                rec.requests.append(req)
                status, body = handler(req)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def failing_first(times: int) -> Handler:
    """Answer 500 to the first ``times`` requests, then 200."""
    count = itertools.count()

    def handle(_req: Request) -> Answer:
        return (500, {"error": "try later"}) if next(count) < times else (200, {"ok": True})

    return handle


def slack_api() -> Handler:
    """Slack's Web API: postMessage gives each message a ``ts``; update needs a known one."""
    stamps = itertools.count(1)
    known: set[str] = set()

    def handle(req: Request) -> Answer:
        body = req.json()
        if req.path.endswith("/chat.postMessage"):
            ts = f"1700000000.{next(stamps):06d}"
            known.add(ts)
            return 200, {"ok": True, "channel": body["channel"], "ts": ts}
        if req.path.endswith("/chat.update"):
            if body.get("ts") not in known:
                return 200, {"ok": False, "error": "message_not_found"}
            return 200, {"ok": True, "channel": body["channel"], "ts": body["ts"]}
        return 404, {"ok": False, "error": "unknown_method"}

    return handle


def status_pages() -> Handler:
    """Statuspage (``/v1/pages/P/incidents``) and Cachet (``/api/v1/incidents``) incidents."""
    ids = itertools.count(1)

    def handle(req: Request) -> Answer:
        if req.method == "POST" and req.path.endswith("/incidents"):
            number = next(ids)
            if req.path.startswith("/api/v1/"):
                return 200, {"data": {"id": number}}
            return 201, {"id": f"inc{number}"}
        if req.method in ("PATCH", "PUT"):
            return 200, {"ok": True}
        return 404, None

    return handle
