"""The builtin proxy's parts that need no socket: chunk framing, the weighted pick, state file."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from runwright.routers.admin import render_metrics
from runwright.routers.base import Backend
from runwright.routers.http1 import RequestReader, canned
from runwright.routers.proxy import Proxy, Table
from runwright.routers.state import RouterState, load_state, read_state, save_state
from runwright.routers.token import ensure_token, read_token


def b(name: str, weight: int, port: int = 9001) -> Backend:
    return Backend(name, "127.0.0.1", port, weight)


def test_a_chunked_request_is_forwarded_whole_behind_one_content_length() -> None:
    message = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
        b"\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    for cut in range(1, len(message)):
        reader = RequestReader()
        reader.feed(message[:cut])
        reader.feed(message[cut:])
        assert reader.error is None
        assert [r.wire for r in reader.ready] == [
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nWikipedia",
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        ]


@pytest.mark.parametrize(
    ("size", "answer"),
    [(b"zz", b"400"), (b"-6", b"400"), (b"fffffffffffffffff", b"400"), (b"1000001", b"413")],
)
def test_a_bad_chunk_size_is_refused(size: bytes, answer: bytes) -> None:
    reader = RequestReader()
    reader.feed(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n"
    )
    reader.feed(b"x" * 0x1000001)
    assert reader.error is not None
    assert reader.error.startswith(b"HTTP/1.1 " + answer)
    assert not reader.ready


def test_table_picks_by_weight_per_request_and_skips_what_failed() -> None:
    table = Table()
    table.set([b("v1", 90), b("v2", 10, 9002)])
    picks = Counter(table.pick(0.0, None).spec.name for _ in range(1000))  # type: ignore[union-attr]
    assert picks == {"v1": 900, "v2": 100}
    v1 = table.targets["v1"]
    assert all(table.pick(0.0, [v1]) is table.targets["v2"] for _ in range(20))
    v1.down_until = 5.0
    assert {table.pick(1.0, None).spec.name for _ in range(20)} == {"v2"}  # type: ignore[union-attr]
    assert table.pick(0.0, [v1, table.targets["v2"]]) is None


def test_a_removed_backend_with_requests_in_flight_stays_until_drained() -> None:
    table = Table()
    table.set([b("v1", 100), b("v2", 0, 9002)])
    table.targets["v1"].in_flight = 1
    table.set([b("v2", 100, 9002)])
    assert table.targets["v1"].live is False
    assert [t.spec.name for t in table.cycle] == ["v2"]
    table.forget_drained()
    assert "v1" in table.targets
    table.targets["v1"].in_flight = 0
    table.forget_drained()
    assert "v1" not in table.targets


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "router" / "builtin.json"
    assert load_state(path) == []
    save_state(path, RouterState(pid=42, backends=(b("v1", 100),)))
    assert load_state(path) == [b("v1", 100)]
    assert read_state(path).pid == 42
    path.write_text("{not json")
    assert load_state(path) == []
    assert read_state(path) == RouterState()


def test_metrics_page_is_prometheus_text() -> None:
    loop = asyncio.new_event_loop()
    try:
        proxy = Proxy(loop)
        proxy.set_backends([b("v1", 100)])
        target = proxy.table.targets["v1"]
        target.statuses[200] = 3
        target.buckets[0] = 3
        page = render_metrics(proxy.snapshot())
    finally:
        loop.close()
    assert 'runwright_router_requests_total{backend="v1",code="200"} 3' in page
    assert 'runwright_router_request_duration_seconds_bucket{backend="v1",le="+Inf"} 3' in page
    assert "# TYPE runwright_router_request_duration_seconds histogram" in page


def test_canned_answers_are_well_formed() -> None:
    answer = canned(502, "Bad Gateway", "nope")
    head, body = answer.split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway")
    assert f"Content-Length: {len(body)}".encode() in head


def test_the_admin_token_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "router" / "admin.token"
    token = ensure_token(path)
    assert len(token) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_token(path) == token
    path.chmod(0o644)
    assert read_token(path) == token
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_token(tmp_path / "missing") == ""
