"""``migrate``: an Alembic path is found from the runbook's directory, as the driver's
commands run there, so ``runwright deploy path/to/runbook.yaml`` works from any directory."""

from __future__ import annotations

from pathlib import Path

from runwright.steps.base import PlanContext
from runwright.steps.migrate import KIND
from runwright.steps.services import StepServices

PARAMS = {"alembic": "db/alembic.ini", "database": "sqlite:///x.db", "on_rollback": "downgrade"}


def test_a_relative_alembic_path_is_taken_from_the_runbooks_directory(tmp_path: Path) -> None:
    ctx = PlanContext({}, "local", "v1", StepServices(base_dir=tmp_path))
    assert KIND.describe(KIND.params.model_validate(PARAMS), ctx)[0] == (
        f"migrate (alembic) to head: alembic -c {tmp_path}/db/alembic.ini upgrade head "
        "(on sqlite:///x.db)"
    )


def test_an_absolute_alembic_path_stays_as_written(tmp_path: Path) -> None:
    ctx = PlanContext({}, "local", "v1", StepServices(base_dir=tmp_path / "elsewhere"))
    params = {**PARAMS, "alembic": f"{tmp_path}/db/alembic.ini"}
    assert KIND.describe(KIND.params.model_validate(params), ctx)[0] == (
        f"migrate (alembic) to head: alembic -c {tmp_path}/db/alembic.ini upgrade head "
        "(on sqlite:///x.db)"
    )
