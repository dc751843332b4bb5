"""The demo service as a process: ready line, graceful SIGTERM, and a clear failure to listen."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
READY = re.compile(r"listening on http://127\.0\.0\.1:(\d+) version (\S+)")
DRAIN = 30.0


def start_demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright.demo", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A demo answering / in 300 ms that would wait up to DRAIN s for requests in flight."""
    proc = start_demo("--version", "v9", "--latency-ms", "300", "--drain-seconds", str(DRAIN))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = READY.match(line)
        assert match, line
        assert match.group(2) == "v9"
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_sigterm_answers_the_request_in_flight_then_exits_0(
    demo: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = demo
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        assert (await http.get("/health")).json() == {"status": "ok", "version": "v9"}
        in_flight = asyncio.create_task(http.get("/"))
        await asyncio.sleep(0.1)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        answer = await in_flight
    assert answer.status_code == 200
    assert answer.text == "hello from v9\n"
    assert await asyncio.to_thread(proc.wait, DRAIN) == 0
    # Once nothing is in flight it exits, not waiting out its drain (a slow machine's margin).
    assert time.monotonic() - began < DRAIN / 3
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(url + "/health")


def test_a_taken_port_is_a_clear_error_and_exit_1() -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 0));"
            " s.listen(); print(s.getsockname()[1], flush=True); time.sleep(10)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            port = holder.stdout.readline().strip()
            done = subprocess.run(
                [sys.executable, "-m", "runwright.demo", "--port", port],
                capture_output=True,
                text=True,
                env={"PYTHONPATH": SRC},
                timeout=10,
                check=False,
            )
        finally:
            holder.kill()
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
