"""CSRF tokens bound to the session: a form's hidden field must match the cookie it came with.

The token is an HMAC of the session secret, so it needs no storage, differs per session, and
cannot be computed by a page on another origin (which never sees the HttpOnly cookie).
"""

from __future__ import annotations

import hashlib
import hmac

from runwright.engine import constant_time

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token_for(session_secret: str) -> str:
    return hmac.new(session_secret.encode(), b"runwright-csrf", hashlib.sha256).hexdigest()


def valid(session_secret: str, given: str | None) -> bool:
    return bool(given) and constant_time.equal(str(given), token_for(session_secret))
