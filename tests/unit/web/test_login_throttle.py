"""Failed logins per address: the eleventh try within five minutes waits for the oldest
failure to age out; other addresses are not affected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runwright.web.throttle import LoginThrottle

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_ten_failures_hold_an_address_until_the_oldest_ages_out() -> None:
    t = LoginThrottle(limit=10, window=300)
    for n in range(10):
        assert t.wait("10.0.0.1", T0 + timedelta(seconds=n)) == 0
        t.failed("10.0.0.1", T0 + timedelta(seconds=n))
    assert t.wait("10.0.0.1", T0 + timedelta(seconds=10)) == 290
    assert t.wait("10.0.0.2", T0 + timedelta(seconds=10)) == 0
    assert t.wait("10.0.0.1", T0 + timedelta(seconds=300)) == 0
