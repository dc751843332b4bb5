"""What unit tests share: ``rt``, a runtime on a throwaway SQLite store and a FakeClock, for
tests of the app layer's use cases and read models that drive no run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import FakeClock


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(tmp_path, f"sqlite:///{tmp_path / 'rw.db'}", "root", environ={})
    runtime = Runtime.open(settings, clock=FakeClock())
    yield runtime
    runtime.close()
