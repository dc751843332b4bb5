"""The scripted provider other tests and the demo lean on."""

from __future__ import annotations

import pytest

from runwright.engine.clock import FakeClock
from runwright.errors import ProviderError
from runwright.providers.base import Provider, SampleProvider
from runwright.providers.fake import FakeProvider


async def test_values_play_in_order_then_the_last_repeats() -> None:
    clock = FakeClock()
    fake = FakeProvider(clock, script={"errors": [0.0, None, ProviderError("down"), 0.5]})
    assert isinstance(fake, Provider)
    assert isinstance(fake, SampleProvider)
    assert (await fake.measure("errors")).value == 0.0
    assert (await fake.measure("errors")).value is None
    with pytest.raises(ProviderError, match="down"):
        await fake.measure("errors")
    clock.advance(30)
    last = await fake.measure("errors")
    assert (last.value, last.at) == (0.5, clock.now())
    assert (await fake.measure("errors")).value == 0.5
    assert fake.calls == ["errors"] * 5


async def test_unscripted_queries_fail_loudly_and_samples_come_from_series() -> None:
    fake = FakeProvider(FakeClock(), series={"latency": [0.1, 0.2]})
    with pytest.raises(ProviderError, match="no script for query 'typo'"):
        await fake.measure("typo")
    assert await fake.samples("latency", window_seconds=60) == [0.1, 0.2]
    await fake.aclose()
    assert fake.closed
