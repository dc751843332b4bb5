"""Slack's request signing as the interaction callback checks it: v0 HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the signing secret, and at most five minutes of clock skew;
and what a button press's form body claims."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from runwright.web.slack import parse, signature_problem

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _sign(stamp: str, body: bytes, secret: str = SECRET) -> str:
    base = b"v0:" + stamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_a_fresh_correctly_signed_request_passes() -> None:
    stamp = str(int(NOW.timestamp()) - 10)
    body = b"payload=%7B%7D"
    assert signature_problem(SECRET, stamp, _sign(stamp, body), body, NOW) is None


def test_bad_signatures_edited_bodies_and_old_or_future_timestamps_fail() -> None:
    stamp = str(int(NOW.timestamp()))
    body = b"payload=%7B%7D"
    assert signature_problem(SECRET, stamp, _sign(stamp, body, "other"), body, NOW) == (
        "bad signature"
    )
    assert signature_problem(SECRET, stamp, _sign(stamp, body), body + b"x", NOW) == (
        "bad signature"
    )
    old = str(int(NOW.timestamp()) - 301)
    assert "stale timestamp" in (signature_problem(SECRET, old, _sign(old, body), body, NOW) or "")
    ahead = str(int(NOW.timestamp()) + 301)
    assert "stale" in (signature_problem(SECRET, ahead, _sign(ahead, body), body, NOW) or "")
    assert signature_problem(SECRET, "", "v0=00", body, NOW) == "no X-Slack-Request-Timestamp"


def test_a_press_names_the_run_the_action_and_the_slack_member() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB0001", "username": "bob"},
        "response_url": "https://hooks.slack.com/actions/T0/1/xyz",
        "actions": [{"action_id": "runwright_reject", "value": "42", "type": "button"}],
    }
    press = parse(urlencode({"payload": json.dumps(payload)}).encode())
    assert press is not None
    assert (press.run_id, press.action, press.slack_id) == (42, "runwright_reject", "U0BOB0001")
    other = {**payload, "actions": [{"action_id": "something_else", "value": "42"}]}
    assert parse(urlencode({"payload": json.dumps(other)}).encode()) is None
    assert parse(b"payload=not-json") is None
