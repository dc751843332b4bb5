"""Rows edited by hand do not move gates: a staging run marked succeeded in the runs table
does not open production (only its sealed revision would), and a lock row naming a run that
ended blocks nobody and is reported by audit verify."""

from __future__ import annotations

import pytest
from tests.unit.steps.conftest import App

from runwright.engine.audit import verify_store
from runwright.errors import PolicyBlocked

BOOK = """
name: shop
environments:
  staging: {}
  production: {requires: staging}
phases:
  - name: p
    steps:
      - run: "{{ outcome }}"
vars:
  outcome: "true"
"""


def sql(app: App, statement: str) -> None:
    with app.rt.store.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_a_status_edited_to_succeeded_does_not_satisfy_promotion(app: App) -> None:
    failed = app.deploy(BOOK, "staging", "v2", overrides={"outcome": "false"})
    assert failed.status != "succeeded"
    sql(app, f"UPDATE runs SET status = 'succeeded' WHERE id = {failed.id}")
    with pytest.raises(PolicyBlocked, match="requires version v2 to have succeeded in staging"):
        app.deploy(BOOK, "production", "v2")
    assert app.deploy(BOOK, "staging", "v2").status == "succeeded"
    assert app.deploy(BOOK, "production", "v2").status == "succeeded"


def test_a_lock_row_naming_an_ended_run_blocks_nobody(app: App) -> None:
    done = app.deploy(BOOK, "staging", "v1")
    sql(
        app,
        "INSERT INTO locks (runbook, environment, run_id, holder, acquired_at) "
        f"VALUES ('shop', 'staging', {done.id}, 'mallory', '2026-01-05 10:00:00')",
    )
    ok, lines = verify_store(app.rt.store)
    assert not ok
    assert f"lock shop/staging: TAMPERED: names run {done.id}, which is not active" in lines[-1]
    assert app.deploy(BOOK, "staging", "v2").status == "succeeded"
