"""A real Prometheus for tests, scraping a local /metrics server whose numbers the test controls.

``running_prometheus(targets)`` starts the Debian ``prometheus`` binary on a free 127.0.0.1
port with a temporary config (1s scrapes) and storage directory, waits until it is ready, and
stops it (and removes its files) afterwards. ``LocalServer`` is a small threaded HTTP server
on 127.0.0.1 whose answers a test sets: a metrics page, canned Prometheus API answers, slow
or failing responses.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, str, str]
"""(status, content type, body)"""

Responder = Callable[[str, dict[str, list[str]]], Answer]


def available() -> bool:
    return shutil.which("prometheus") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """An HTTP server on 127.0.0.1. Set ``metrics`` for /metrics, or ``responder`` for anything.

    ``delay`` slows every answer (seconds); ``requests`` lists the paths with query strings
    and ``headers`` the request headers, in order.
    """

    def __init__(self) -> None:
        self.metrics = ""
        self.responder: Responder | None = None
        self.delay = 0.0
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.headers.append(dict(self.headers.items()))
                if server.delay:
                    time.sleep(server.delay)
                parts = urlsplit(self.path)
                if server.responder is not None:
                    status, ctype, body = server.responder(parts.path, parse_qs(parts.query))
                elif parts.path == "/metrics":
                    status, ctype, body = 200, "text/plain; version=0.0.4", server.metrics
                else:
                    status, ctype, body = 404, "text/plain", "not found\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Prometheus:
    url: str
    port: int
    workdir: Path


@contextmanager
def running_prometheus(
    targets: Sequence[str], *, scrape_interval: str = "1s", ready_timeout: float = 30.0
) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``targets`` (``host:port`` serving /metrics) as job ``test``."""
    workdir = Path(tempfile.mkdtemp(prefix="rw-prom-"))
    port = free_port()
    quoted = ", ".join(f"'{t}'" for t in targets)
    (workdir / "prometheus.yml").write_text(
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  scrape_timeout: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        "  - job_name: test\n"
        "    static_configs:\n"
        f"      - targets: [{quoted}]\n"
    )
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, workdir / "prometheus.log", ready_timeout)
        yield Prometheus(url=url, port=port, workdir=workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus was not ready within {timeout}s:\n{log.read_text()[-2000:]}")
