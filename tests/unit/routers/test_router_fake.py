"""The fake router proves make-before-break for every test that moves traffic through it."""

from __future__ import annotations

import pytest

from runwright.engine.clock import FakeClock
from runwright.errors import DriverError
from runwright.routers.base import Backend
from runwright.routers.fake import FakeRouter, check_step


def b(name: str, weight: int) -> Backend:
    return Backend(name, "127.0.0.1", 9000 + int(name[1:]), weight)


async def test_records_each_table_a_switch_goes_through() -> None:
    router = FakeRouter(clock=FakeClock())
    await router.ensure_started()
    await router.ensure_started()
    assert router.starts == 1
    await router.apply([b("v1", 100)])
    await router.apply([b("v1", 0), b("v2", 100)])
    assert router.tables == [
        [b("v1", 100)],
        [b("v1", 100), b("v2", 100)],
        [b("v1", 0), b("v2", 100)],
    ]
    assert router.weights() == {"v1": 0, "v2": 100}
    assert len(router.applies) == 2


async def test_apply_before_start_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match="not started"):
        await FakeRouter().apply([b("v1", 100)])


def test_check_step_catches_a_break_before_make() -> None:
    with pytest.raises(AssertionError, match="raise first"):
        check_step([b("v1", 100)], [b("v1", 0), b("v2", 100)])
    with pytest.raises(AssertionError, match="no backend takes traffic"):
        check_step([b("v1", 100)], [b("v1", 0)])
    check_step([b("v1", 100)], [b("v1", 100), b("v2", 100)])


async def test_drain_waits_on_the_clock_and_times_out() -> None:
    clock = FakeClock()
    router = FakeRouter(clock=clock, in_flight={"v1": 2})
    with pytest.raises(DriverError, match="still has 2 requests in flight after 30s"):
        await router.drain("v1", timeout=30)
    assert clock.monotonic() >= 30
    router.in_flight["v1"] = 0
    await router.drain("v1", timeout=30)
    assert router.drained == ["v1"]


async def test_counters_show_weights_and_scripted_traffic() -> None:
    router = FakeRouter(in_flight={"v2": 1})
    await router.ensure_started()
    await router.apply([b("v1", 90), b("v2", 10)])
    counters = await router.counters()
    assert counters["v1"].weight == 90
    assert counters["v2"].in_flight == 1
