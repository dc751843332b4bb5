"""Secrets and digests compare equal only when they are, and text that is not ASCII (from a
hostile header or an edited row) is a mismatch, not the TypeError hmac.compare_digest gives."""

from __future__ import annotations

import hmac

import pytest

from runwright.engine import constant_time


def test_equal_values_match_and_different_ones_do_not() -> None:
    assert constant_time.equal("a3f9", "a3f9")
    assert constant_time.equal(b"Bearer x", b"Bearer x")
    assert not constant_time.equal("a3f9", "a3f8")
    assert not constant_time.equal("", "a3f9")


def test_text_that_is_not_ascii_is_a_mismatch_where_hmac_alone_raises() -> None:
    with pytest.raises(TypeError):
        hmac.compare_digest("\u00e9" * 4, "a3f9")
    assert not constant_time.equal("\u00e9" * 4, "a3f9")
    assert not constant_time.equal("\udcff", "a3f9")
    assert constant_time.equal("caf\u00e9", "caf\u00e9")
