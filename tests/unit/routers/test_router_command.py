"""The command router hands the runbook's ``route`` script each make-before-break table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.support.releases import alive

from runwright.errors import DriverError
from runwright.routers.base import Backend
from runwright.routers.command import CommandRouter, CommandRouterSettings


def _tables(path: Path) -> list[list[tuple[str, int]]]:
    return [
        [(b["name"], b["weight"]) for b in json.loads(line)]
        for line in path.read_text().splitlines()
    ]


async def test_a_switch_reaches_the_script_as_two_tables_raising_first(tmp_path: Path) -> None:
    seen = tmp_path / "tables"
    router = CommandRouter(CommandRouterSettings(route=f"cat >> {seen}; echo >> {seen}"))
    await router.apply([Backend("v1", "10.0.0.1", 8080, 100)])
    await router.apply([Backend("v2", "10.0.0.2", 8080, 100)])
    assert _tables(seen) == [
        [("v1", 100)],
        [("v1", 100), ("v2", 100)],  # v2 raised while v1 still serves
        [("v2", 100)],
    ]
    assert await router.counters() == {}


async def test_a_failing_script_is_a_driver_error_with_its_output() -> None:
    router = CommandRouter(CommandRouterSettings(route="echo 'nginx: config invalid'; exit 1"))
    with pytest.raises(DriverError, match=r"exited 1:\n  \| nginx: config invalid"):
        await router.apply([Backend("v1", "10.0.0.1", 8080, 100)])


async def test_a_script_past_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    """A child still holding the script's output (a reload that hangs) does not hang the
    release: the whole group is killed at the timeout."""
    pidfile = tmp_path / "child.pid"
    router = CommandRouter(
        CommandRouterSettings(route=f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.3)
    )
    began = time.monotonic()
    with pytest.raises(DriverError, match="did not finish within 0.3s"):
        await router.apply([Backend("v1", "10.0.0.1", 8080, 100)])
    assert time.monotonic() - began < 10
    assert not alive(int(pidfile.read_text()))
