"""The command driver runs the runbook's templates with /bin/sh and reads what they print."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.releases import alive

from runwright.drivers.base import ServiceSpec
from runwright.drivers.command import CommandDriver, CommandSettings, json_lines
from runwright.errors import DriverError

SPEC = ServiceSpec(name="shop-prod", command="", start_timeout=0.5, stop_timeout=1.0)


def test_json_lines_take_objects_and_arrays_and_skip_chatter() -> None:
    text = (
        'pulling image...\n{"id": "a", "address": "h:1"}\n[{"id": "b"}, {"id": "c"}]\nnot {json\n'
    )
    assert [r["id"] for r in json_lines(text)] == ["a", "b", "c"]


async def test_start_list_health_and_stop_go_through_the_templates(tmp_path: Path) -> None:
    record = tmp_path / "running"
    driver = CommandDriver(
        CommandSettings(
            start=f'echo starting; echo \'{{"id": "c-{{{{ version }}}}", "address": '
            f'"127.0.0.1:9"}}\' | tee {record}',
            stop=f"rm -f {record}; echo stopped {{{{ id }}}} >> {tmp_path}/log",
            list=f'cat {record} 2>/dev/null | sed \'s/}}$/, "version": "v2"}}/\' || true',
            health=f"test -f {record}",
        )
    )
    instance = await driver.start(SPEC, "v2")
    assert (instance.host, instance.port, dict(instance.handle)) == ("127.0.0.1", 9, {"id": "c-v2"})
    listed = await driver.instances("shop-prod")
    assert [(i.version, i.handle["id"]) for i in listed] == [("v2", "c-v2")]
    await driver.stop(instance, 1.0)
    assert not await driver.healthy(instance)
    assert (tmp_path / "log").read_text() == "stopped c-v2\n"


async def test_a_start_that_prints_no_address_fails_with_its_output() -> None:
    driver = CommandDriver(
        CommandSettings(start="echo 'image not found' >&2; exit 3", stop="true", list="true")
    )
    with pytest.raises(DriverError, match=r"exited 3; last output:\n  \| image not found"):
        await driver.start(SPEC, "v2")


async def test_a_version_never_healthy_is_stopped_again(tmp_path: Path) -> None:
    driver = CommandDriver(
        CommandSettings(
            start="""echo '{"id": "x", "address": "127.0.0.1:9"}'""",
            stop=f"touch {tmp_path}/stopped",
            list="true",
            health="exit 1",
            poll_interval=0.05,
        )
    )
    with pytest.raises(DriverError, match="was not healthy within 0.5s"):
        await driver.start(SPEC, "v2")
    assert (tmp_path / "stopped").exists()


async def test_a_cancelled_command_is_stopped_with_its_children(tmp_path: Path) -> None:
    """An abort while a start command runs leaves none of its processes behind."""
    pidfile = tmp_path / "child.pid"
    driver = CommandDriver(
        CommandSettings(start=f"sleep 30 & echo $! > {pidfile}; wait", stop="true", list="true")
    )
    task = asyncio.create_task(driver.start(SPEC, "v2"))
    for _ in range(500):  # the shell starts its child (10 s at most)
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(int(pidfile.read_text()))
