"""The builtin proxy against HAProxy 2.6 on malformed and ambiguous HTTP (RFC 9112 section 11.2).

Each case's bytes go through both proxies, in the same test, to one recording backend that
parses strictly what it receives (``tests/support/recorder.py``). The builtin proxy must never
forward a request HAProxy refuses, never split a stream into other requests than HAProxy does
(what it forwards is a prefix of what HAProxy forwards), never hang, and after each attack a
victim on a new connection must get its own answer. The cases the security review reproduced
(CL.TE, TE.CL, TE.TE obfuscations, bad Content-Lengths and chunk sizes, bare LF, obs-fold) must
also be refused outright. Malformed backend answers are checked the same way: the client gets
502 (or a close) where HAProxy does, and the backend connection that sent it is not reused.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tests.support.proxies import Proxy, builtin_proxy, exchange, haproxy, statuses
from tests.support.recorder import Answer, Recorder, Seen, recording

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.slow,
    pytest.mark.xdist_group("proxy_conformance"),
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed"),
]

H = b"Host: example.test\r\n"
QUIET = 0.4
"""Both proxies keep a good connection open: the exchange ends after this much silence."""
VICTIM = b"GET /victim HTTP/1.1\r\n" + H + b"Cookie: session=victim\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    refuse: bool = False
    """The review reproduced it: the builtin proxy must forward nothing of it."""


def post(headers: bytes, body: bytes, line: bytes = b"POST /a HTTP/1.1\r\n") -> bytes:
    return line + H + headers + b"\r\n" + body


SMUGGLED = b"GET /admin HTTP/1.1\r\n" + H + b"\r\n"
TE = b"Transfer-Encoding: chunked\r\n"

REQUESTS = [
    # CL.TE and TE.CL: both framings present, a second request hidden in the body.
    Case("cl_te", post(b"Content-Length: 6\r\n" + TE, b"0\r\n\r\nG"), refuse=True),
    Case("te_cl", post(TE + b"Content-Length: 4\r\n", b"5c\r\n" + SMUGGLED + b"\r\n0\r\n\r\n"),
         refuse=True),
    Case("cl_te_smuggle", post(b"Content-Length: 37\r\n" + TE, b"0\r\n\r\n" + SMUGGLED), True),
    # TE.TE: an obfuscated Transfer-Encoding one side may not see.
    Case("te_xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), refuse=True),
    Case("te_space_colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), refuse=True),
    Case("te_obs_fold", post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), refuse=True),
    Case("te_identity_chunked_elsewhere",
         post(b"Transfer-Encoding: identity\r\nX-Note: chunked\r\n", b"0\r\n\r\n"), refuse=True),
    Case("te_chunked_then_identity", post(b"Transfer-Encoding: chunked, identity\r\n",
                                         b"0\r\n\r\n"), refuse=True),
    Case("te_twice", post(TE + b"Transfer-Encoding: identity\r\n", b"0\r\n\r\n"), refuse=True),
    Case("te_quoted", post(b'Transfer-Encoding: "chunked"\r\n', b"0\r\n\r\n"), refuse=True),
    Case("te_vertical_tab", post(b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), True),
    Case("te_bare_lf_name", post(b"X: y\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), True),
    Case("te_gzip_chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n")),
    Case("te_http10", post(TE, b"0\r\n\r\n", b"POST /a HTTP/1.0\r\n"), refuse=True),
    Case("te_uppercase_ok", post(b"Transfer-Encoding: CHUNKED\r\n", b"3\r\nabc\r\n0\r\n\r\n")),
    # Content-Length that is not exactly 1*DIGIT, or said twice.
    Case("cl_twice_differing", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
         refuse=True),
    Case("cl_twice_same", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello")),
    Case("cl_list", post(b"Content-Length: 5, 6\r\n", b"hello!"), refuse=True),
    Case("cl_negative", post(b"Content-Length: -5\r\n", b"hello"), refuse=True),
    Case("cl_plus", post(b"Content-Length: +5\r\n", b"hello"), refuse=True),
    Case("cl_underscore", post(b"Content-Length: 1_0\r\n", b"helloworld"), refuse=True),
    Case("cl_hex", post(b"Content-Length: 0x5\r\n", b"hello"), refuse=True),
    Case("cl_inner_space", post(b"Content-Length: 1 0\r\n", b"helloworld"), refuse=True),
    Case("cl_empty", post(b"Content-Length: \r\n", b""), refuse=True),
    Case("cl_overflow", post(b"Content-Length: 99999999999999999999999\r\n", b"x"), refuse=True),
    Case("cl_get_body_then_request", post(b"Content-Length: 5\r\n", b"hello" + SMUGGLED,
                                          b"GET /a HTTP/1.1\r\n")),
    # Chunk sizes: negative, not hex, overflowing, with junk.
    Case("chunk_negative", post(TE, b"-6\r\nhello!\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_not_hex", post(TE, b"zz\r\nhello!\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_overflow", post(TE, b"fffffffffffffffff1\r\nx\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_0x", post(TE, b"0x5\r\nhello\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_plus", post(TE, b"+5\r\nhello\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_bare_lf", post(TE, b"5\nhello\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_data_too_long", post(TE, b"3\r\nhello\r\n0\r\n\r\n"), refuse=True),
    Case("chunk_extension_ok", post(TE, b"5;name=value\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_trailer_ok", post(TE, b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n")),
    # Bare LF, bare CR and other broken heads.
    Case("bare_lf_head", b"GET /a HTTP/1.1\nHost: example.test\n\n", refuse=True),
    Case("bare_lf_header", b"GET /a HTTP/1.1\r\nHost: example.test\nX: 1\r\n\r\n", refuse=True),
    Case("bare_cr_header", b"GET /a HTTP/1.1\r\nHost: example.test\rX: 1\r\n\r\n", refuse=True),
    Case("obs_fold_header", b"GET /a HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", refuse=True),
    Case("nul_in_value", b"GET /a HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", refuse=True),
    Case("no_colon", b"GET /a HTTP/1.1\r\n" + H + b"Broken header\r\n\r\n", refuse=True),
    Case("empty_name", b"GET /a HTTP/1.1\r\n" + H + b": x\r\n\r\n", refuse=True),
    Case("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", refuse=True),
    Case("version_2", b"GET /a HTTP/2.0\r\n" + H + b"\r\n"),
    Case("version_09", b"GET /a\r\n\r\n", refuse=True),
    Case("hosts_twice", b"GET /a HTTP/1.1\r\n" + H + H + b"\r\n"),
    Case("no_host_11", b"GET /a HTTP/1.1\r\n\r\n"),
    # Valid traffic must pass as HAProxy passes it, split the same way.
    Case("pipelined_two", b"GET /1 HTTP/1.1\r\n" + H + b"\r\nGET /2 HTTP/1.1\r\n" + H + b"\r\n"),
    Case("pipelined_then_bad", b"GET /1 HTTP/1.1\r\n" + H + b"\r\n" + post(
        b"Content-Length: 6\r\n" + TE, b"0\r\n\r\nG")),
    Case("chunked_ok", post(TE, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")),
    Case("expect_continue", post(b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"hello")),
    Case("upgrade_websocket", b"GET /ws HTTP/1.1\r\n" + H +
         b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
    Case("connect", b"CONNECT example.test:443 HTTP/1.1\r\n" + H + b"\r\n"),
    Case("http10_keepalive", b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
]  # fmt: skip


ANSWERS = {
    "cl_te": Answer((b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + TE + b"\r\n0\r\n\r\n",)),
    "cl_twice": Answer((b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",)),
    "chunk_negative": Answer((b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n-6\r\nhello!\r\n0\r\n\r\n",)),
    "chunk_not_hex": Answer((b"HTTP/1.1 200 OK\r\n" + TE + b"\r\nzz\r\nhello\r\n0\r\n\r\n",)),
    "chunk_overflow": Answer((b"HTTP/1.1 200 OK\r\n" + TE + b"\r\nfffffffffffffffff1\r\n",)),
    "bare_lf": Answer((b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",)),
    "bad_status": Answer((b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nhi",)),
    "garbage": Answer((b"hello, this is not HTTP\r\n\r\n",)),
    "continue_then_final": Answer(
        (b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"),
        pause=0.2,
    ),
    "early_hints": Answer(
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal",
        )
    ),  # fmt: skip
    "switching_unasked": Answer((b"HTTP/1.1 101 Switching Protocols\r\n\r\n",)),
    "smuggled_answer": Answer(
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen",
        )
    ),  # fmt: skip
    "until_close": Answer((b"HTTP/1.1 200 OK\r\n\r\nall of it",), close=True),
    "truncated": Answer((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi",), close=True),
    "chunked_trailer": Answer(
        (b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n4\r\nreal\r\n0\r\nX-T: 1\r\n\r\n",)
    ),
    "no_content_with_body": Answer((b"HTTP/1.1 204 No Content\r\n\r\nstolen",)),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recorder, list[Proxy]]]:
    tmp = tmp_path_factory.mktemp("conformance")
    with (
        recording(ANSWERS) as recorder,
        builtin_proxy(tmp, recorder.port) as (builtin, _),
        haproxy(tmp, recorder.port) as ha,
    ):
        yield recorder, [builtin, ha]


def attack(recorder: Recorder, proxy: Proxy, data: bytes) -> tuple[bytes, list[Seen]]:
    """Send ``data``; what came back, and what reached the backend (the victim checked)."""
    recorder.take()
    answer = exchange(proxy.port, data, quiet=QUIET)
    forwarded = recorder.take()
    victim = exchange(proxy.port, VICTIM, quiet=QUIET)
    assert victim.startswith(b"HTTP/1.1 200"), f"{proxy.name}: the victim got {victim[:300]!r}"
    assert victim.endswith(b"GET /victim 0"), f"{proxy.name}: the victim got {victim[:300]!r}"
    assert recorder.take() == [Seen(b"GET", b"/victim", b"")], proxy.name
    return answer, forwarded


def test_the_corpus_is_big_enough() -> None:
    assert len(REQUESTS) + len(ANSWERS) >= 40
    assert len({c.name for c in REQUESTS}) == len(REQUESTS)


@pytest.mark.parametrize("case", REQUESTS, ids=lambda c: c.name)
def test_a_request_is_never_forwarded_where_haproxy_refuses_nor_split_differently(
    lab: tuple[Recorder, list[Proxy]], case: Case
) -> None:
    recorder, (builtin, ha) = lab
    ours, ours_forwarded = attack(recorder, builtin, case.data)
    theirs, theirs_forwarded = attack(recorder, ha, case.data)
    assert not any(s.bad for s in ours_forwarded), f"forwarded unparseable: {ours_forwarded}"
    assert ours_forwarded == theirs_forwarded[: len(ours_forwarded)], (
        f"builtin forwarded {ours_forwarded}, HAProxy {theirs_forwarded}"
    )
    if case.refuse:
        assert ours_forwarded == []
        refused = statuses(ours)
        assert len(refused) == 1, ours[:300]
        assert 400 <= refused[0] < 600, ours[:300]
    assert len(statuses(ours)) >= len(ours_forwarded)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_malformed_answer_closes_its_backend_connection_and_is_502_where_haproxy_says_so(
    lab: tuple[Recorder, list[Proxy]], name: str
) -> None:
    recorder, (builtin, ha) = lab
    request = b"GET /r/" + name.encode() + b" HTTP/1.1\r\n" + H + b"\r\n"
    ours, _ = attack(recorder, builtin, request)
    theirs, _ = attack(recorder, ha, request)
    if statuses(theirs)[-1:] == [502] or not theirs:
        assert statuses(ours)[-1:] in ([502], []), ours[:300]
    assert b"stolen" not in ours
    final = [s for s in statuses(ours) if s >= 200]
    assert len(final) <= 1, ours[:300]


def test_a_100_continue_is_relayed_and_the_real_answer_awaited(
    lab: tuple[Recorder, list[Proxy]],
) -> None:
    recorder, (builtin, _) = lab
    request = b"GET /r/continue_then_final HTTP/1.1\r\n" + H + b"\r\n"
    for _ in range(5):
        answer, _ = attack(recorder, builtin, request)
        assert statuses(answer) == [100, 200], answer
        assert answer.endswith(b"\r\n\r\nreal")
