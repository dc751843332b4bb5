"""The builtin proxy cannot be frozen: every wait has a deadline, connections are capped, SIGTERM
always ends it, and its admin API answers only to its token on a loopback Host.

The proxy runs as its real process with short timeouts (head and body 1 s, idle 2 s, backend
response 2 s) in front of the recording backend of ``tests/support/recorder.py``.
"""

from __future__ import annotations

import resource
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from tests.support.proxies import Proxy, builtin_proxy, exchange, statuses
from tests.support.recorder import Answer, Recorder, recording

from runwright.loadgen import run_load

pytestmark = pytest.mark.slow

H = b"Host: example.test\r\n"
GET = b"GET /a HTTP/1.1\r\n" + H + b"\r\n"
ANSWERS = {
    "silent": Answer(()),
    "slow": Answer((b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"done"), pause=0.8),
    "stalls": Answer((b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf",)),
}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording(ANSWERS) as started:
        yield started


@pytest.fixture
def proxy(tmp_path: Path, recorder: Recorder) -> Iterator[Proxy]:
    with builtin_proxy(tmp_path, recorder.port) as (started, _):
        yield started


def open_socket(proxy: Proxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def read_until_close(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything until the proxy closes, and how long that took (AssertionError past limit)."""
    began = time.monotonic()
    out = b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        raise AssertionError(f"not closed within {limit}s: {out[:200]!r}") from None
    except ConnectionResetError:
        pass
    return out, time.monotonic() - began


def test_a_head_that_never_ends_gets_408_after_the_head_timeout(proxy: Proxy) -> None:
    with open_socket(proxy) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\n" + H)
        answer, took = read_until_close(sock, 4.0)
    assert statuses(answer) == [408]
    assert 0.8 <= took <= 2.5


def test_a_trickled_head_does_not_reset_the_head_timeout(proxy: Proxy) -> None:
    began = time.monotonic()
    answer = b""
    with open_socket(proxy) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\n")
        for _ in range(40):  # a header line every 0.1 s, for up to 4 s
            if select.select([sock], [], [], 0.1)[0]:
                answer, _ = read_until_close(sock, 1.0)
                break
            sock.sendall(b"X-Slow: 1\r\n")
        took = time.monotonic() - began
    assert statuses(answer) == [408]
    assert took <= 2.5


def test_a_body_that_stops_gets_408_after_the_body_timeout(proxy: Proxy) -> None:
    with open_socket(proxy) as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc")
        answer, took = read_until_close(sock, 4.0)
    assert statuses(answer) == [408]
    assert 0.8 <= took <= 2.5


def test_an_idle_kept_connection_is_closed_after_the_idle_timeout(proxy: Proxy) -> None:
    with open_socket(proxy) as sock:
        sock.sendall(GET)
        answer, took = read_until_close(sock, 5.0)
    assert statuses(answer) == [200]
    assert 1.8 <= took <= 3.5


def test_expect_100_continue_is_answered_by_the_proxy_before_the_body(proxy: Proxy) -> None:
    with open_socket(proxy) as sock:
        sock.sendall(
            b"POST /a HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        sock.settimeout(5)
        answer = sock.recv(1000)
    assert statuses(answer) == [200]
    assert answer.endswith(b"POST /a 5")


def test_a_silent_backend_gets_504_and_the_next_user_is_served(
    proxy: Proxy, recorder: Recorder
) -> None:
    began = time.monotonic()
    answer = exchange(proxy.port, b"GET /r/silent HTTP/1.1\r\n" + H + b"\r\n", quiet=0.3)
    assert statuses(answer) == [504]
    assert 1.8 <= time.monotonic() - began <= 3.5
    answer = exchange(proxy.port, b"GET /r/stalls HTTP/1.1\r\n" + H + b"\r\n", deadline=5)
    assert answer.endswith(b"half")  # the head was sent: the client is closed mid-answer
    assert exchange(proxy.port, GET, quiet=0.3).endswith(b"GET /a 0")


def test_a_backend_that_never_accepts_gets_504_after_the_connect_timeout(
    tmp_path: Path,
) -> None:
    with socket.socket() as full, ExitStack() as stack:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        for _ in range(4):  # fill its accept queue: further SYNs are dropped, connects hang
            waiting = socket.socket()
            waiting.setblocking(False)
            waiting.connect_ex(full.getsockname())
            stack.enter_context(waiting)
        port = full.getsockname()[1]
        with builtin_proxy(tmp_path, port, connect=0.5) as (proxy, _):
            began = time.monotonic()
            answer = exchange(proxy.port, GET, quiet=0.3, deadline=8)
            took = time.monotonic() - began
    assert statuses(answer) == [504]
    assert took <= 4.0


def test_connections_past_the_limit_are_refused_at_once_not_left_hanging(
    tmp_path: Path, recorder: Recorder
) -> None:
    with builtin_proxy(tmp_path, recorder.port, max_connections=5) as (proxy, _), ExitStack() as s:
        held = [s.enter_context(open_socket(proxy)) for _ in range(5)]
        time.sleep(0.2)
        with open_socket(proxy) as extra:
            answer, took = read_until_close(extra, 2.0)
        assert statuses(answer) == [503]
        assert took < 1.0
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert exchange(proxy.port, GET, quiet=0.3).endswith(b"GET /a 0")


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


def test_the_connection_limit_stays_under_the_descriptor_limit(
    tmp_path: Path, recorder: Recorder
) -> None:
    with (
        builtin_proxy(tmp_path, recorder.port, preexec=_low_fd_limit) as (proxy, proc),
        ExitStack() as stack,
    ):
        # 200 descriptors: (200 - 64) / 2 = 68 clients, each with room for its backend.
        socks = [stack.enter_context(open_socket(proxy)) for _ in range(120)]
        time.sleep(0.3)
        refused = 0
        for sock in socks[70:]:
            answer, _ = read_until_close(sock, 2.0)
            refused += statuses(answer) == [503]
        assert refused == 50
        assert proc.poll() is None
        # The idle ones are closed by the head timeout; then everyone is served again.
        time.sleep(1.6)
        assert exchange(proxy.port, GET, quiet=0.3).endswith(b"GET /a 0")


async def test_a_canary_answering_garbage_costs_only_its_own_requests(
    tmp_path: Path, recorder: Recorder
) -> None:
    broken = Answer((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\nhello!\r\n",))
    with (
        recording(default=broken) as canary,
        builtin_proxy(tmp_path, recorder.port, canary=canary.port) as (proxy, proc),
    ):
        load = await run_load(f"http://127.0.0.1:{proxy.port}/", connections=8, duration=2.0)
        assert proc.poll() is None
        # Every request was answered: the stable version's, and 502 for the canary's.
        assert load.requests > 200
        assert set(load.statuses) == {200, 502}, (load.statuses, load.errors)
        assert load.failures == load.statuses[502]
        assert 0.3 < load.statuses[200] / load.requests < 0.7
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - began < 3.0


def test_sigterm_lets_a_request_in_flight_finish_and_exits(
    tmp_path: Path, recorder: Recorder
) -> None:
    with builtin_proxy(tmp_path, recorder.port) as (proxy, proc), open_socket(proxy) as sock:
        sock.sendall(b"GET /r/slow HTTP/1.1\r\n" + H + b"\r\n")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        answer, _ = read_until_close(sock, 3.0)
        assert answer.endswith(b"done")
        assert proc.wait(3) == 0


def test_sigterm_ends_the_proxy_within_its_grace_even_with_a_silent_backend(
    tmp_path: Path, recorder: Recorder
) -> None:
    with builtin_proxy(tmp_path, recorder.port, response=60) as (proxy, proc):
        socks = [open_socket(proxy) for _ in range(3)]
        for sock in socks:
            sock.sendall(b"GET /r/silent HTTP/1.1\r\n" + H + b"\r\n")
        socks.append(open_socket(proxy))
        socks[-1].sendall(b"GET /a HTTP/1.1\r\n")  # a head half-sent
        time.sleep(0.3)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail("the proxy did not exit within 5 s of SIGTERM (grace 2 s)")
        assert time.monotonic() - began <= 3.5
        for sock in socks:
            sock.close()


def test_the_admin_api_wants_its_token_and_a_loopback_host(tmp_path: Path, proxy: Proxy) -> None:
    token_file = tmp_path / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 32
    admin = f"http://127.0.0.1:{proxy.admin}"
    good = {"Authorization": f"Bearer {token}"}
    table = {"backends": [{"name": "evil", "host": "127.0.0.1", "port": 9, "weight": 100}]}
    with httpx.Client(trust_env=False, timeout=5) as client:
        assert client.get(f"{admin}/status").status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * len(token)}
        assert client.put(f"{admin}/backends", json=table, headers=wrong).status_code == 401
        assert client.get(f"{admin}/status", headers=good).status_code == 200
        rebinding = {**good, "Host": f"evil.example:{proxy.admin}"}
        assert client.put(f"{admin}/backends", json=table, headers=rebinding).status_code == 421
        other_port = {**good, "Host": f"127.0.0.1:{proxy.port}"}
        assert client.get(f"{admin}/stats", headers=other_port).status_code == 421
        for host in ("127.0.0.1", "localhost"):
            local = {**good, "Host": f"{host}:{proxy.admin}"}
            assert client.get(f"{admin}/metrics", headers=local).status_code == 200
        names = [b["name"] for b in client.get(f"{admin}/status", headers=good).json()["backends"]]
    assert names == ["v1"]  # the refused PUTs changed nothing
    auth = f"Authorization: Bearer {token}\r\n".encode()
    local = f"Host: 127.0.0.1:{proxy.admin}\r\n".encode()
    two_hosts = b"GET /status HTTP/1.1\r\n" + local + b"Host: evil.example\r\n" + auth + b"\r\n"
    assert statuses(exchange(proxy.admin, two_hosts, half_close=True)) == [421]
    bare_lf = b"GET /status HTTP/1.1\n" + local + auth + b"\r\n"
    assert statuses(exchange(proxy.admin, bare_lf, half_close=True)) == [400]
    assert exchange(proxy.port, GET, quiet=0.3).endswith(b"GET /a 0")
