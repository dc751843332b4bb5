"""Strategies expand into the steps plan shows; these pin the order and the undo of each."""

from __future__ import annotations

import pytest

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step
from runwright.strategies.registry import STRATEGIES


def _smoke() -> list[Step]:
    return [Step(name="smoke home", kind="http", params={"url": "{{ new_url }}/"})]


def names(strategy: str, **release: object) -> list[str]:
    spec = ReleaseSpec.model_validate({"strategy": strategy, **release})
    return [e.step.name or "" for e in STRATEGIES[strategy].expand(spec, _smoke())]


def test_blue_green_proves_green_before_switching_and_retires_blue_last() -> None:
    assert names("blue_green", bake="30s") == [
        "start new version",
        "smoke home",
        "switch traffic",
        "bake",
        "retire previous version",
    ]


def test_canary_walks_the_weights_with_pauses() -> None:
    assert names("canary", weights=[10, 50, 100], pause="1m") == [
        "start new version",
        "smoke home",
        "canary 10%",
        "pause at 10%",
        "canary 50%",
        "pause at 50%",
        "switch traffic",
        "retire previous version",
    ]


def test_recreate_stops_before_starting() -> None:
    assert names("recreate")[:2] == ["stop previous version (downtime starts)", "start new version"]


@pytest.mark.parametrize("strategy", ["blue_green", "canary", "recreate"])
def test_every_traffic_change_undoes_to_the_previous_version_and_is_idempotent(
    strategy: str,
) -> None:
    spec = ReleaseSpec.model_validate({"strategy": strategy})
    steps = [e.step for e in STRATEGIES[strategy].expand(spec, _smoke())]
    traffic = [s for s in steps if s.kind == "traffic"]
    assert traffic
    for s in traffic:
        assert s.idempotent
        assert s.undo_step is not None
        assert s.undo_step.params["weights"]["{{ previous_version }}"] == 100
    start = next(s for s in steps if s.name == "start new version")
    assert start.undo_step is not None
    assert start.undo_step.params["action"] == "stop"


def test_undo_order_puts_traffic_back_before_stopping_the_new_version() -> None:
    spec = ReleaseSpec.model_validate({"strategy": "canary", "weights": [10, 100]})
    steps = [e.step for e in STRATEGIES["canary"].expand(spec, [])]
    undone_newest_first = [s.undo_step.name for s in reversed(steps) if s.undo_step]
    assert undone_newest_first[0] == "traffic back to previous"
    assert undone_newest_first[-1] == "stop new version"


@pytest.mark.parametrize("weights", [[10, 50], [50, 10, 100], [0, 100], []])
def test_bad_canary_weights_are_refused(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="weight"):
        ReleaseSpec.model_validate({"strategy": "canary", "weights": weights})


def test_canary_pauses_and_bake_run_under_the_release_analysis() -> None:
    spec = ReleaseSpec.model_validate({
        "strategy": "canary", "weights": [10, 50, 100], "pause": "1m", "bake": "5m",
        "analysis": ["error-rate", "p95"], "compare": "baseline",
    })  # fmt: skip
    waits = [e.step for e in STRATEGIES["canary"].expand(spec, []) if e.step.kind == "wait"]
    assert [w.name for w in waits] == ["pause at 10%", "pause at 50%", "bake"]
    assert all(w.params["analysis"] == ["error-rate", "p95"] for w in waits)
    assert [w.params.get("compare") for w in waits] == ["baseline", "baseline", "none"]


def _waits(release: dict[str, object]) -> list[Step]:
    spec = ReleaseSpec.model_validate(release)
    return [e.step for e in STRATEGIES[spec.strategy].expand(spec, []) if e.step.kind == "wait"]


def test_blue_green_bake_runs_under_analysis_and_plain_waits_stay_plain() -> None:
    (bake,) = _waits({"bake": "30s", "analysis": ["error-rate"]})
    assert bake.params == {
        "duration": 30.0, "reason": "bake under watch", "analysis": ["error-rate"],
        "compare": "none",
    }  # fmt: skip
    (bake,) = _waits({"bake": "30s"})
    assert "analysis" not in bake.params


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ({"strategy": "blue_green", "analysis": ["e"]}, "analysis needs time to watch"),
        ({"strategy": "canary", "analysis": ["e"]}, "pause or bake"),
        (
            {"strategy": "blue_green", "bake": "1m", "analysis": ["e"], "compare": "baseline"},
            "needs strategy: canary",
        ),
        ({"strategy": "canary", "pause": "1m", "compare": "baseline"}, "needs analysis"),
    ],
)
def test_analysis_that_could_never_run_is_refused(release: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReleaseSpec.model_validate(release)
