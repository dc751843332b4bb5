"""App tests use the steps' in-process runwright (FakeClock, SQLite in a temp directory)."""

from tests.unit.steps.conftest import App, app

__all__ = ["App", "app"]
