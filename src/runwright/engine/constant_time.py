"""Comparing a secret or a digest with what someone handed us, in constant time.

``hmac.compare_digest`` refuses two ``str`` unless both are ASCII, with a TypeError. Every
value compared here may come from outside: a header, a cookie, a form field, a line of the
witness file, an audit bundle, a row someone edited. A hostile or tampered value must come out
as a plain mismatch (a 403, "the chain was edited"), never as an internal error, so both sides
are compared as their UTF-8 bytes.
"""

from __future__ import annotations

import hmac


def equal(given: str | bytes, expected: str | bytes) -> bool:
    """Whether ``given`` is ``expected``, in time that does not depend on where they differ."""
    a = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else given
    b = expected.encode("utf-8", "surrogateescape") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)
