"""The registry finds every step kind and gives ``manual`` steps to a person to attest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.unit.steps.conftest import App

import runwright
from runwright.steps.registry import describe, kinds, param_models


def test_the_core_kinds_are_found() -> None:
    assert {"run", "http", "wait", "gate", "approval"} <= set(kinds())
    assert set(param_models()) == set(kinds())
    for key, kind in kinds().items():
        assert kind.key == key


def test_a_manual_step_is_described_as_done_by_hand() -> None:
    from runwright.steps.base import PlanContext

    spec = {"kind": "run", "manual": True, "params": {"command": "kubectl drain {{ node }}"}}
    lines = describe(spec, PlanContext({"node": "n 1"}, "staging", "v1"))
    assert lines == ["manual: the operator does this and attests it", "$ kubectl drain 'n 1'"]


def test_a_manual_step_waits_for_a_person_and_never_executes(app: App) -> None:
    marker = app.dir / "executed"
    run = app.deploy(
        f"""
        name: by-hand
        phases:
          - name: p
            steps:
              - name: rotate keys
                manual: true
                run: touch {marker}
        """
    )
    assert run.status == "awaiting_attestation"
    app.as_user("bob").attest(run.id, "rotated in the console")
    final = app.resume(run.id)
    assert final.status == "succeeded"
    assert not marker.exists()
    step = app.rt.store.steps(run.id)[0]
    assert step.summary == "done by hand, attested by bob"
    assert step.data["note"] == "rotated in the console"


def test_a_kind_receives_its_params_as_its_own_model_with_the_shorthand_expanded() -> None:
    from runwright.steps.registry import params_as, params_of
    from runwright.steps.wait import WaitParams

    spec = {"kind": "wait", "name": "bake", "params": "2m"}
    assert params_of(spec) == WaitParams(duration=120)
    with pytest.raises(TypeError, match="'bake' is a wait"):
        params_as(spec, kinds()["run"].params)


def test_no_step_kind_validates_its_own_params() -> None:
    """Only the registry (and the loader, with the registry's models) validates step params."""
    root = Path(runwright.__file__).parent
    allowed = {root / "steps" / "registry.py", root / "model" / "loader.py"}
    found = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in root.rglob("*.py")
        if path not in allowed
        for line in path.read_text().splitlines()
        if re.search(r"(Params|\.params)\.model_validate\(", line)
    ]
    assert found == []
