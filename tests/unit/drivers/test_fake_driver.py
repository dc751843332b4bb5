"""The in-memory driver keeps the driver contract that steps and strategies rely on."""

from __future__ import annotations

import pytest

from runwright.drivers.base import Driver, ServiceSpec
from runwright.drivers.fake import FakeDriver
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError, InputError

SPEC = ServiceSpec(name="web", command="serve --port {{ port }} --version {{ version }}")


@pytest.fixture
def driver() -> FakeDriver:
    return FakeDriver(FakeClock())


async def test_it_is_a_driver(driver: FakeDriver) -> None:
    assert isinstance(driver, Driver)


async def test_two_versions_run_side_by_side_on_their_own_ports(driver: FakeDriver) -> None:
    blue = await driver.start(SPEC, "v1")
    green = await driver.start(SPEC, "v2")
    assert blue.port != green.port
    assert [i.version for i in await driver.instances("web")] == ["v1", "v2"]
    assert await driver.healthy(blue)
    assert driver.commands == [
        f"serve --port {blue.port} --version v1",
        f"serve --port {green.port} --version v2",
    ]
    assert green.url == f"http://127.0.0.1:{green.port}"


async def test_stop_is_idempotent(driver: FakeDriver) -> None:
    blue = await driver.start(SPEC, "v1")
    await driver.stop(blue, 1.0)
    await driver.stop(blue, 1.0)
    assert await driver.instances("web") == []
    assert not await driver.healthy(blue)
    assert driver.calls == ["start web v1", "stop web v1", "stop web v1"]


async def test_scripted_failures_look_like_the_real_ones(driver: FakeDriver) -> None:
    driver.fail_start["v2"] = ["Traceback (most recent call last):", "ImportError: nope"]
    with pytest.raises(DriverError, match="exited before it became healthy") as failed:
        await driver.start(SPEC, "v2")
    assert "ImportError: nope" in str(failed.value)
    driver.unhealthy.add("v3")
    with pytest.raises(DriverError, match="not healthy within 30s"):
        await driver.start(SPEC, "v3")
    assert await driver.instances("web") == []


async def test_a_crashed_instance_disappears(driver: FakeDriver) -> None:
    blue = await driver.start(SPEC, "v1")
    driver.crash(blue)
    assert await driver.instances("web") == []
    assert not await driver.healthy(blue)


async def test_template_errors_surface_like_the_local_driver(driver: FakeDriver) -> None:
    bad = ServiceSpec(name="web", command="serve {{ prot }}")
    with pytest.raises(InputError, match="undefined"):
        await driver.start(bad, "v1")
