"""Secret redaction at the one place everything passes: what is stored, shown or reported.

A declared secret's value, and every form a program commonly turns it into, is replaced by
``***`` before any text leaves the engine: terminal lines, step output, event data,
summaries, reports. The derived forms are the shell-quoted value, the JSON-escaped string
(a secret with ``"`` or ``\\`` in a JSON body), URL and form encoding (upper- and lowercase
``%xx``), hex (plain, and colon-separated as fingerprints and dumps print it), base64, a
Python bytes repr (``b'...'``) and HTML escaping.

A secret wrapped across two lines (a terminal's width, a PEM-like dump) is masked too: a line
that ends with the secret's first part or starts with its last part, each at least
``MIN_HALF`` characters, has that part masked; so does a word that is such a part (a step's
summary quotes its last line after ``exit 0:``). Shorter halves would mask ordinary text.

Base64 needs care: a secret is rarely encoded alone (HTTP basic auth encodes
``user:secret``), and what the secret's bytes become depends on how many bytes precede them
modulo 3. So for each of the three alignments the part of the encoding that depends only on
the secret's bytes is registered; any ``prefix + secret + suffix`` encoding contains one.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET = 3
MIN_FRAGMENT = 6
MIN_HALF = 8


def _base64_fragments(raw: bytes) -> set[str]:
    """For each alignment (0, 1, 2 bytes before the secret), the base64 characters that only
    the secret's bytes determine, in the standard and the URL-safe alphabet."""
    out: set[str] = set()
    for lead in range(3):
        total = lead + len(raw)
        encoded = base64.b64encode(b"\0" * lead + raw).decode().rstrip("=")
        start = (0, 2, 3)[lead]
        stop = (total // 3) * 4 + (0, 1, 2)[total % 3]
        fragment = encoded[start:stop]
        if len(fragment) >= MIN_FRAGMENT or (lead == 0 and len(fragment) >= 4):
            out.add(fragment)
            out.add(fragment.replace("+", "-").replace("/", "_"))
    return out


def derived_forms(value: str) -> set[str]:
    """The value and the forms it takes in shells, JSON, URLs, hex and base64."""
    raw = value.encode()
    forms = {
        value,
        shlex.quote(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(value))[3:-3],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        _lower_percent(urllib.parse.quote(value, safe="")),
        _lower_percent(urllib.parse.quote(value)),
        _lower_percent(urllib.parse.quote_plus(value)),
        binascii.hexlify(raw).decode(),
        binascii.hexlify(raw).decode().upper(),
        raw.hex(":"),
        raw.hex(":").upper(),
        repr(raw)[2:-1],
        html.escape(value),
        html.escape(value, quote=False),
        base64.b64encode(raw).decode(),
        *_base64_fragments(raw),
    }
    for line in value.splitlines():
        if len(line) >= 4:
            forms.add(line)
    return {f for f in forms if len(f) >= MIN_SECRET}


def _lower_percent(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self._split: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        if not value or len(value) < MIN_SECRET:
            return
        self._needles = sorted(set(self._needles) | derived_forms(value), key=len, reverse=True)
        if len(value) >= 2 * MIN_HALF and "\n" not in value:
            self._split.append(value)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def text(self, value: str) -> str:
        for needle in self._needles:
            if needle in value:
                value = value.replace(needle, MASK)
        if self._split:
            value = "".join(self._halves(line) for line in value.splitlines(keepends=True))
        return value

    def _halves(self, line: str) -> str:
        """Mask a secret's first part ending a line (or a word) and its last part starting a
        line (or a word: a summary quotes a line after ``exit 0:``)."""
        for secret in self._split:
            line = _mask_tails(line, secret)
            line = _mask_heads(line, secret)
        return line

    def obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value


def _mask_tails(line: str, secret: str) -> str:
    """Every last part of ``secret`` (MIN_HALF or more characters, not all of it) that starts
    ``line`` or follows whitespace: each ends with the secret's last MIN_HALF characters."""
    end = secret[-MIN_HALF:]
    at = line.find(end)
    while at >= 0:
        stop = at + MIN_HALF
        for cut in range(min(len(secret) - MIN_HALF, stop), MIN_HALF - 1, -1):
            start = stop - cut
            if line[start:stop] == secret[-cut:] and (start == 0 or line[start - 1].isspace()):
                line = line[:start] + MASK + line[stop:]
                stop = start + len(MASK)
                break
        at = line.find(end, stop)
    return line


def _mask_heads(line: str, secret: str) -> str:
    """Every first part of ``secret`` (MIN_HALF or more characters, not all of it) that ends
    ``line`` or precedes whitespace: each starts with the secret's first MIN_HALF characters."""
    begin = secret[:MIN_HALF]
    body = line.rstrip("\r\n")
    at = body.find(begin)
    while at >= 0:
        step = 1
        for cut in range(min(len(secret) - MIN_HALF, len(body) - at), MIN_HALF - 1, -1):
            stop = at + cut
            if body[at:stop] == secret[:cut] and (stop == len(body) or body[stop].isspace()):
                body = body[:at] + MASK + body[stop:]
                step = len(MASK)
                break
        at = body.find(begin, at + step)
    return body + line[len(line.rstrip("\r\n")) :]
