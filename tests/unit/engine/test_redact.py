"""Redaction: a secret, and the forms a shell, a URL or base64 turn it into, become ``***``."""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import urllib.parse

import pytest

from runwright.engine.redact import MASK, Redactor

SECRET = "p@ss word/with'quote"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        shlex.quote(SECRET),
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
    ],
    ids=["plain", "shell-quoted", "url-encoded", "form-encoded", "base64"],
)
def test_every_derived_form_is_masked(form: str) -> None:
    text = Redactor([SECRET]).text(f"Authorization: {form} (sent)")
    assert SECRET not in text
    assert form not in text
    assert MASK in text


def test_longer_forms_are_masked_before_the_plain_value_they_contain() -> None:
    quoted = shlex.quote(SECRET)
    assert Redactor([SECRET]).text(f"curl -H {quoted}") == f"curl -H {MASK}"


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG\n-----END KEY-----"
    text = Redactor([key]).text("got MIIEvQIBADANBgkqhkiG from the file")
    assert text == f"got {MASK} from the file"


def test_nested_event_data_is_masked_and_other_values_kept() -> None:
    r = Redactor(["tok-123456"])
    data = {
        "summary": "exit 0: tok-123456",
        "items": [{"note": "using tok-123456"}, 3, None],
        "count": 2,
        "pair": ("a", "tok-123456"),
    }
    assert r.obj(data) == {
        "summary": f"exit 0: {MASK}",
        "items": [{"note": f"using {MASK}"}, 3, None],
        "count": 2,
        "pair": ["a", MASK],
    }


def test_several_secrets_are_all_masked() -> None:
    r = Redactor(["alpha-secret", "beta-secret"])
    assert r.text("alpha-secret and beta-secret") == f"{MASK} and {MASK}"
    assert r


def test_values_too_short_to_be_secrets_are_not_registered() -> None:
    r = Redactor(["", "ab"])
    assert not r
    assert r.text("ab cd") == "ab cd"


def test_text_without_secrets_is_unchanged() -> None:
    assert Redactor(["hunter22"]).text("deploying v1.2.3 to staging") == (
        "deploying v1.2.3 to staging"
    )


TRICKY = 'pa"ss\\wörd:42/x+y'


@pytest.mark.parametrize(
    "form",
    [
        json.dumps(TRICKY)[1:-1],
        json.dumps(TRICKY, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(TRICKY))[3:-3],
        urllib.parse.quote(TRICKY),
        TRICKY.encode().hex(),
        TRICKY.encode().hex().upper(),
        base64.urlsafe_b64encode(TRICKY.encode()).decode(),
    ],
    ids=["json", "json-unicode", "json-twice", "url-path", "hex", "HEX", "base64-urlsafe"],
)
def test_json_url_hex_and_urlsafe_forms_are_masked(form: str) -> None:
    text = Redactor([TRICKY]).text(f'{{"body": "{form}"}}')
    assert form not in text
    assert MASK in text


@pytest.mark.parametrize("user", ["", "a", "ab", "bob", "admin", "deploy-bot", "ünïcode"])
@pytest.mark.parametrize("suffix", ["", "\n", "x", "yz"])
def test_base64_of_any_prefix_and_secret_is_masked(user: str, suffix: str) -> None:
    for secret in (SECRET, TRICKY, "hunter2-long-enough"):
        encoded = base64.b64encode(f"{user}:{secret}{suffix}".encode()).decode()
        text = Redactor([secret]).text(f"Authorization: Basic {encoded}")
        assert encoded not in text
        assert MASK in text


@pytest.mark.parametrize(
    "form",
    [
        urllib.parse.quote(TRICKY, safe="").lower(),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(TRICKY)),
        TRICKY.encode().hex(":"),
        TRICKY.encode().hex(":").upper(),
        repr(TRICKY.encode()),
        str(TRICKY.encode()),
        html.escape(TRICKY),
        html.escape(TRICKY, quote=False),
    ],
    ids=[
        "url-lower",
        "url-path-lower",
        "hex-colons",
        "HEX-colons",
        "bytes-repr",
        "bytes-str",
        "html",
        "html-noquote",
    ],  # fmt: skip
)
def test_lowercase_url_colon_hex_bytes_repr_and_html_forms_are_masked(form: str) -> None:
    text = Redactor([TRICKY]).text(f"value: {form} end")
    inner = form[2:-1] if form.startswith("b'") else form
    assert inner not in text
    assert MASK in text


LONG = "k3y-Part0ne-AND-part2-x9"


@pytest.mark.parametrize("cut", [8, 12, len(LONG) - 8])
def test_a_secret_split_across_two_lines_is_masked(cut: int) -> None:
    text = Redactor([LONG]).text(f"token: {LONG[:cut]}\n{LONG[cut:]} (continued)\n")
    assert text == "token: ***\n*** (continued)\n"


def test_halves_shorter_than_eight_characters_are_left() -> None:
    text = Redactor([LONG]).text(f"ends with {LONG[:7]}\n{LONG[-7:]} starts it\n")
    assert text == f"ends with {LONG[:7]}\n{LONG[-7:]} starts it\n"


def test_a_half_quoted_as_a_word_is_masked_but_not_inside_a_word() -> None:
    redactor = Redactor([LONG])
    assert redactor.text(f"exit 0: {LONG[10:]} (continued)") == "exit 0: *** (continued)"
    assert redactor.text(f"a {LONG[:12]} b") == "a *** b"
    assert redactor.text(f"x{LONG[10:]} and {LONG[:12]}y") == f"x{LONG[10:]} and {LONG[:12]}y"
