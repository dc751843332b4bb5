"""The command router hands the runbook's ``route`` script each make-before-break table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
