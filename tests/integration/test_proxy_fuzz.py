"""Fuzzing the builtin proxy's request parsing: no hang, no desynchronisation.

Hypothesis builds request heads from pieces that matter to framing (Transfer-Encoding and
Content-Length with odd values, odd separators and colons, obs-fold, control bytes) and bodies
of chunks with odd sizes, then sends them to the running proxy. Every connection must be
answered or closed within the head timeout; what reached the recording backend must be a
prefix of what a strict parse of the same bytes finds (the proxy never splits a stream another
way); and a victim on a new connection must get its own answer after every example.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.proxies import Proxy, builtin_proxy, exchange
from tests.support.recorder import Recorder, Seen, recording

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("proxy_fuzz")]

VICTIM = b"GET /victim HTTP/1.1\r\nHost: example.test\r\n\r\n"

NAMES = [
    b"Host",
    b"Transfer-Encoding",
    b"Content-Length",
    b"Connection",
    b"Expect",
    b"X-A",
    b"transfer-encoding",
    b"Transfer-Encoding ",
    b"Content-Length\t",
    b"",
    b"X\x00",
]
VALUES = [
    b"chunked",
    b"identity",
    b"gzip, chunked",
    b"chunked, identity",
    b"xchunked",
    b"5",
    b"-5",
    b"+5",
    b"1_0",
    b"0x5",
    b"5, 5",
    b"0",
    b"99999999999999999999",
    b" 5 ",
    b"close",
    b"keep-alive",
    b"100-continue",
    b"example.test",
    b"\x0bchunked",
    b"",
]
EOLS = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\n "]
COLONS = [b": ", b":", b" : ", b":\t"]
SIZES = [b"0", b"5", b"-6", b"zz", b"fffffffffffffffff1", b"5;ext=1", b"5 ", b"+5", b"0x5",
         b"3"]  # fmt: skip

header = st.tuples(
    st.sampled_from(NAMES) | st.binary(min_size=1, max_size=8),
    st.sampled_from(COLONS),
    st.sampled_from(VALUES) | st.binary(max_size=12),
    st.sampled_from(EOLS),
)
chunk = st.tuples(st.sampled_from(SIZES), st.binary(max_size=8), st.sampled_from(EOLS))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"get", b"CONNECT", b"G\x00T"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b""]))
    eol = draw(st.sampled_from(EOLS))
    out = method + b" /" + draw(st.binary(max_size=6)) + b" " + version + eol
    for name, colon, value, end in draw(st.lists(header, max_size=6)):
        out += name + colon + value + end
    out += draw(st.sampled_from(EOLS))
    if draw(st.booleans()):
        for size, data, end in draw(st.lists(chunk, max_size=4)):
            out += size + b"\r\n" + data + end
        out += b"0\r\n\r\n"
    else:
        out += draw(st.binary(max_size=16))
    if draw(st.booleans()):
        out += b"GET /next HTTP/1.1\r\nHost: example.test\r\n\r\n"
    return out


class _Strict:
    """A strict parse of the attacker's bytes: the requests a conforming server would see."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.seen: list[Seen] = []
        self.url = self.body = b""

    def on_message_begin(self) -> None:
        self.url = self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.seen.append(Seen(self.parser.get_method(), self.url, self.body))


def strictly(data: bytes) -> list[Seen]:
    strict = _Strict()
    with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
        strict.parser.feed_data(data)
    return strict.seen


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recorder, Proxy]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with (
        recording() as recorder,
        builtin_proxy(tmp, recorder.port, head=0.5, body=0.5) as (
            proxy,
            _,
        ),
    ):
        yield recorder, proxy


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=requests(), half_close=st.sampled_from([True, True, True, False]))
def test_fuzzed_requests_neither_hang_nor_desynchronise(
    lab: tuple[Recorder, Proxy], data: bytes, half_close: bool
) -> None:
    recorder, proxy = lab
    recorder.take()
    # Every connection ends by itself: answered (then quiet), or closed by a deadline (head or
    # body: 0.5 s here) or at the client's half-close; never later than 3 s.
    exchange(proxy.port, data, deadline=3.0, quiet=0.2, half_close=half_close)
    forwarded = recorder.take()
    assert not any(s.bad for s in forwarded), forwarded
    expected = strictly(data)
    assert forwarded == expected[: len(forwarded)], (data, forwarded, expected)
    victim = exchange(proxy.port, VICTIM, half_close=True)
    assert victim.endswith(b"GET /victim 0"), victim[:300]
    assert recorder.take() == [Seen(b"GET", b"/victim", b"")]
