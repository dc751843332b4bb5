"""The local driver never hands a version a port the router is about to listen on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runwright.drivers import local
from runwright.drivers.local import LocalDriver, LocalSettings


def test_reserved_ports_are_skipped_even_when_the_kernel_offers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered: Iterator[int] = iter([47429, 47430, 47431])
    monkeypatch.setattr(local, "free_port", lambda host: next(offered))
    driver = LocalDriver(
        LocalSettings(state_dir=tmp_path, reserved_ports=frozenset({47429, 47430}))
    )
    assert driver._pick_port("127.0.0.1") == 47431
