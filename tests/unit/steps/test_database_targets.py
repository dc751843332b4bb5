"""Which database a backup, restore or migrate step means, from what a runbook or CLI says."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.errors import InputError
from runwright.steps._databases import infer_engine, sqlite_path


@pytest.mark.parametrize("target", ["sqlite:///data/shop.db", "data/shop.db"])
def test_a_relative_sqlite_path_is_recorded_absolute_so_a_later_restore_finds_it(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_path(target) == tmp_path / "data" / "shop.db"


def test_an_absolute_sqlite_url_keeps_its_path() -> None:
    assert sqlite_path("sqlite:////var/lib/app/shop.db") == Path("/var/lib/app/shop.db")


@pytest.mark.parametrize(
    ("target", "engine"),
    [
        ("postgresql://app@127.0.0.1/shop", "postgres"),
        ("sqlite:///shop.db", "sqlite"),
        ("shop.db", "sqlite"),
    ],
)
def test_the_engine_is_inferred_from_the_target(target: str, engine: str) -> None:
    assert infer_engine(target, None) == engine


def test_a_url_of_another_database_is_bad_input() -> None:
    with pytest.raises(InputError, match="mysql"):
        infer_engine("mysql://app@db/shop", None)
