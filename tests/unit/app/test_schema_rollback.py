"""A rollback's migrations are pointed at the target revision's schema head, by each
step's ``on_rollback``; what runwright will not do itself is refused before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from runwright.app.plans.schema_rollback import bring_schema
from runwright.engine.store import NewStep
from runwright.errors import InputError


def _migrate(**params: Any) -> NewStep:
    spec = {"kind": "migrate", "params": {"database": "sqlite:///x.db", **params}}
    return NewStep(section="main", idx=0, phase="db", name="migrate", kind="migrate", spec=spec)


def test_downgrade_points_alembic_at_the_revisions_head() -> None:
    steps, notes = bring_schema([_migrate(alembic="db")], 1, {"migrate": "0001"}, {"migrate": "3"})
    assert steps[0].spec["params"]["target"] == "0001"
    assert notes == [
        "schema (migrate): brought back to revision 1's head 0001 (now 3): alembic downgrade 0001"
    ]


def test_a_revision_at_base_goes_down_to_base() -> None:
    steps, _ = bring_schema([_migrate(alembic="db")], 1, {"migrate": None}, {"migrate": "0001"})
    assert steps[0].spec["params"]["target"] == "base"


def test_a_revision_without_a_recorded_head_migrates_as_written() -> None:
    steps, notes = bring_schema([_migrate(alembic="db")], 1, None, {"migrate": "0002"})
    assert "target" not in steps[0].spec["params"]
    assert notes == ["schema (migrate): revision 1 recorded no schema head; it migrates as written"]


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"alembic": "db", "on_rollback": "restore"}, "on_rollback: restore"),
        ({"command": "./migrate.sh", "undo": "./down.sh"}, "a command migration cannot be sent"),
    ],
)
def test_what_runwright_will_not_do_is_refused_saying_why(params: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError) as caught:
        bring_schema([_migrate(**params)], 2, {"migrate": "0002"}, {"migrate": "0003"})
    assert caught.value.message.startswith(
        "rolling back to revision 2 needs the schema of step 'migrate' at revision 2's head 0002 "
        "(now 0003), and runwright will not take it there: " + why
    )
    assert "runwright restore BACKUP --yes" in (caught.value.hint or "")


def test_a_schema_already_there_is_left_alone() -> None:
    steps, notes = bring_schema(
        [_migrate(alembic="db", on_rollback="restore")], 1, {"migrate": "7"}, {"migrate": "7"}
    )
    assert notes == ["schema (migrate): already at revision 1's head 7"]
    assert "target" not in steps[0].spec["params"]
