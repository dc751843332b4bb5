"""HTTP/1.1 framing for the builtin proxy: llhttp (through httptools) decides, strictly.

A proxy and the server behind it must agree on where each request ends, or an attacker's bytes
become the next user's request (request smuggling, RFC 9112 section 11.2). So the proxy does
not look for its own answers in the bytes: llhttp, the parser of Node.js, reads every request
and every backend response with none of its leniencies on. It refuses a request with both
Content-Length and Transfer-Encoding, two Content-Lengths, a Content-Length that is not digits,
a Transfer-Encoding that does not end in ``chunked``, obs-fold, bare LF, control characters and
bad chunk sizes; on top of it this module refuses what llhttp lets pass but the proxy cannot
carry unambiguously: a transfer coding other than ``chunked`` (501), Transfer-Encoding in
HTTP/1.0, a missing or repeated Host in HTTP/1.1, versions other than 1.0 and 1.1 (505),
protocol upgrades and CONNECT (501), an Expect other than ``100-continue`` (417).

What is forwarded is re-serialised, never the client's bytes: the request line, the end-to-end
headers as parsed, and the body de-chunked behind one ``Content-Length``. A backend sees one
framing, whatever the client sent. Responses are re-framed the same way by the proxy
(``proxy.py``) from the parsed head (``ResponseHead``) and the body pieces llhttp hands over.
"""

from __future__ import annotations

from collections import deque
from http import HTTPStatus

import httptools

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_BODY = 16 * 1024 * 1024

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"content-length",
        b"te",
        b"upgrade",
        b"expect",
        b"trailer",
    }
)


def canned(status: int, reason: str, text: str, close: bool = False) -> bytes:
    body = (text + "\n").encode()
    conn = "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n{conn}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


BAD_GATEWAY = canned(502, "Bad Gateway", "no backend could answer this request")
BAD_ANSWER = canned(502, "Bad Gateway", "the backend's answer was malformed")
NO_BACKEND = canned(503, "Service Unavailable", "no backend is configured to take traffic")
BUSY = canned(503, "Service Unavailable", "too many connections; try again", close=True)
BAD_REQUEST = canned(400, "Bad Request", "malformed request", close=True)
HEAD_TOO_LARGE = canned(431, "Request Header Fields Too Large", "request head too large", True)
TOO_LARGE = canned(413, "Content Too Large", "request body too large", close=True)
GATEWAY_TIMEOUT = canned(504, "Gateway Timeout", "the backend did not answer in time")
REQUEST_TIMEOUT = canned(408, "Request Timeout", "the request was not sent in time", True)
NOT_IMPLEMENTED = canned(
    501, "Not Implemented", "no protocol upgrades, CONNECT or transfer codings but chunked", True
)
BAD_VERSION = canned(505, "HTTP Version Not Supported", "use HTTP/1.1 or 1.0", True)
BAD_EXPECT = canned(417, "Expectation Failed", "only Expect: 100-continue", True)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
STATUS_LINES = {int(s): b"HTTP/1.1 %d %s\r\n" % (s, s.phrase.encode()) for s in HTTPStatus}
"""Status lines as the client gets them: the standard reason phrase (it carries no meaning)."""


class Refused(Exception):  # noqa: N818 - a decision, not a failure of the proxy
    """The request cannot be carried; ``answer`` is what the client gets before the close."""

    def __init__(self, answer: bytes) -> None:
        super().__init__(answer.split(b"\r\n", 1)[0].decode())
        self.answer = answer


class Request:
    """One request as the backend will see it: ``wire`` is the re-serialised message.

    Defaults live on the class (one is made per request, on the hot path): an instance sets
    only what differs."""

    method = b""
    url = b""
    hop: list[tuple[bytes, bytes]] | None = None
    """Hop-by-hop fields (lower-case name, value): checked, never forwarded."""
    hosts = 0
    body: bytearray | None = None
    framed = False
    keep_alive = True
    http11 = True
    expect = False
    wire = b""

    def __init__(self) -> None:
        self.fields: list[bytes] = []
        """End-to-end fields, flat: ``name, ": ", value, CRLF``."""


class RequestReader:
    """Feeds a client's bytes to llhttp; complete requests queue in ``ready``, in order.

    A refusal is kept in ``error``: requests that were complete before it are still served,
    then the client gets the refusal and the connection closes (nothing after it is read).
    """

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[Request] = deque()
        self.current: Request | None = None
        self.error: bytes | None = None
        self.in_head = False
        self.head_bytes = 0
        self.head_size = 0
        self.continued = False

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return
        began = self.current
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self.error = cause.answer if isinstance(cause, Refused) else BAD_REQUEST
        except httptools.HttpParserError:
            self.error = BAD_REQUEST
        except httptools.HttpParserUpgrade:
            self.error = NOT_IMPLEMENTED
        if self.error is not None:
            self.current = None
        elif self.in_head and self.current is began:
            # Bytes of a head that began in an earlier piece: llhttp keeps them, unbounded.
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD:
                self.error, self.current = HEAD_TOO_LARGE, None

    @property
    def idle(self) -> bool:
        """No request begun and none waiting."""
        return self.current is None and not self.ready

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.current = Request()
        self.in_head = True
        self.head_bytes = self.head_size = 0
        self.continued = False

    def on_url(self, url: bytes) -> None:
        req = self.current
        assert req is not None
        req.url += url
        self.head_size += len(url)
        if self.head_size > MAX_HEAD:
            raise Refused(HEAD_TOO_LARGE)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            raise Refused(HEAD_TOO_LARGE)
        req = self.current
        if not self.in_head or req is None:
            return  # a chunked body's trailer: counted, not forwarded
        low = name.lower()
        if low in HOP_BY_HOP:
            if req.hop is None:
                req.hop = []
            req.hop.append((low, value))
            return
        if low == b"host":
            req.hosts += 1
        fields = req.fields
        fields += (name, b": ", value, b"\r\n")
        if len(fields) > 4 * MAX_HEADERS:
            raise Refused(HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        req = self.current
        assert req is not None
        self.in_head = False
        parser = self.parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise Refused(BAD_VERSION)
        if parser.should_upgrade():
            raise Refused(NOT_IMPLEMENTED)
        req.method = parser.get_method()
        req.keep_alive = parser.should_keep_alive()
        req.http11 = http11 = version == "1.1"
        if req.hosts > 1 or (http11 and req.hosts == 0):
            raise Refused(BAD_REQUEST)
        fields = _check_hop_by_hop(req, http11) if req.hop else req.fields
        req.wire = b"%s %s HTTP/1.1\r\n%s" % (req.method, req.url, b"".join(fields))

    def on_body(self, body: bytes) -> None:
        req = self.current
        assert req is not None
        if req.body is None:
            req.body = bytearray()
        req.body += body
        if len(req.body) > MAX_BODY:
            raise Refused(TOO_LARGE)

    def on_message_complete(self) -> None:
        req = self.current
        assert req is not None
        body = req.body
        if body is not None:
            req.wire += b"Content-Length: %d\r\n\r\n" % len(body) + body
            req.body = None
        elif req.framed:
            req.wire += b"Content-Length: 0\r\n\r\n"
        else:
            req.wire += b"\r\n"
        self.current = None
        self.ready.append(req)


def _check_hop_by_hop(req: Request, http11: bool) -> list[bytes]:
    """Refuses what cannot be carried unambiguously; the fields left once those a
    ``Connection`` field names are dropped."""
    drop: set[bytes] = set()
    for low, value in req.hop or ():
        if low == b"transfer-encoding":
            if not http11:
                raise Refused(BAD_REQUEST)
            if value.strip().lower() != b"chunked" or req.framed:
                raise Refused(NOT_IMPLEMENTED)
            req.framed = True
        elif low == b"content-length":
            req.framed = True
            if int(value) > MAX_BODY:
                raise Refused(TOO_LARGE)
        elif low == b"connection":
            drop.update(t.strip().lower() for t in value.split(b","))
        elif low == b"expect":
            if value.strip().lower() != b"100-continue":
                raise Refused(BAD_EXPECT)
            req.expect = True
    drop -= {b"", b"close", b"keep-alive"}
    return _without(req.fields, drop) if drop else req.fields


def _without(fields: list[bytes], names: set[bytes]) -> list[bytes]:
    """Flat ``name, ": ", value, CRLF`` fields but those whose lower-case name is in ``names``."""
    return [
        part
        for i in range(0, len(fields), 4)
        if fields[i].lower() not in names
        for part in fields[i : i + 4]
    ]


class ResponseHead:
    """A backend answer's head as the client will get it: end-to-end fields, flat as
    ``name, ": ", value, CRLF`` (the proxy appends them as they arrive), and the framing fields
    (Content-Length, Transfer-Encoding, Connection) kept apart: the proxy frames the answer."""

    __slots__ = ("fields", "length", "te", "connection")

    def __init__(self) -> None:
        self.fields: list[bytes] = []
        self.length: bytes | None = None
        self.te: bytes | None = None
        self.connection = b""

    def framing_field(self, low: bytes, value: bytes) -> None:
        """A hop-by-hop field (``low`` is its lower-case name): kept apart, not forwarded."""
        if low == b"content-length":
            self.length = value
        elif low == b"transfer-encoding":
            self.te = value if self.te is None else self.te + b", " + value
        elif low == b"connection":
            self.connection += b"," + value

    @property
    def chunked(self) -> bool:
        """llhttp reads the body as chunked (else, with a Transfer-Encoding, until close)."""
        return self.te is not None and self.te.lower().rstrip(b" \t").endswith(b"chunked")

    def serialise(self, status: int, framing: bytes) -> bytes:
        fields = self.fields
        if self.connection:
            drop = {t.strip().lower() for t in self.connection.split(b",")}
            drop -= {b"", b"close", b"keep-alive"}
            if drop:
                fields = _without(fields, drop)
        line = STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status
        return b"%s%s%s\r\n" % (line, b"".join(fields), framing)
