"""A shell command as a signal: the last number it prints, with a timeout that kills it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runwright.engine.clock import Clock, FakeClock, SystemClock
from runwright.errors import ProviderError
from runwright.providers.command import CommandProvider, CommandSettings, last_number


async def measure(
    command: str, clock: Clock | None = None, **settings: object
) -> tuple[float | None, str]:
    # real commands inside the provider's timeout: real time unless a test gives a clock
    provider = CommandProvider(CommandSettings(**settings), clock or SystemClock())  # type: ignore[arg-type]
    measured = await provider.measure(command)
    assert measured.query == command
    return measured.value, measured.note


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("checking queue v1.2.3...\ndepth: 42\n", 42.0),
        ("ratio=0.0125 (1.25%)", 1.25),
        ("-3.5e-2", -0.035),
        ("latency 250ms then 0.31", 0.31),
        ("inf", float("inf")),
        ("nothing here, only words like info and banana", None),
    ],
)
def test_last_number(text: str, number: float | None) -> None:
    assert last_number(text) == number


async def test_the_last_number_printed_is_the_value() -> None:
    assert await measure("echo 'rows before: 10'; echo 'rows now: 12'") == (12.0, "")


async def test_printing_no_number_is_no_data() -> None:
    assert await measure("echo all good") == (None, "the command printed no number")


async def test_a_failing_command_is_an_error_with_its_stderr() -> None:
    with pytest.raises(ProviderError, match="exited with status 3: psql: connection refused"):
        await measure("echo 'psql: connection refused' >&2; exit 3")


async def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with pytest.raises(ProviderError, match="did not finish within 0.3s and was killed"):
        await measure(f"sleep 30 & echo $! > {pidfile}; wait", timeout_seconds=0.3)
    child = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        _signal_or_zombie(child)


async def test_a_hung_command_times_out_on_the_providers_clock() -> None:
    """Ten fake minutes of timeout pass in a moment of wall time: the wait is the clock's."""
    began = time.monotonic()
    with pytest.raises(ProviderError, match="did not finish within 600s and was killed"):
        await measure("sleep 60", FakeClock(), timeout_seconds=600)
    assert time.monotonic() - began < 2.0


def _signal_or_zombie(pid: int) -> None:
    """Raise ProcessLookupError when ``pid`` is gone (or only a zombie awaiting its reaper)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists() and stat.read_text().split()[2] == "Z":
        raise ProcessLookupError(pid)
    os.kill(pid, 0)


async def test_environment_and_working_directory_are_the_settings(tmp_path: Path) -> None:
    value, _ = await measure('echo "$LIMIT"; pwd >/dev/null', env={"LIMIT": "7"}, cwd=str(tmp_path))
    assert value == 7.0
