"""The run state machine's decisions, table by table: what runs next, what waits for a person,
in which order a failed run is undone, and how it ends.

A run is written as a compact string per step so each case reads like the journal it models:
``"main:ok+u"`` is a succeeded main step with an undo, ``"main:run!"`` an idempotent step in
flight, ``"main:ok+u/running"`` a step whose undo was in flight.
"""

from __future__ import annotations

import pytest

from runwright.engine.machine import (
    MAIN,
    ROLLBACK,
    Action,
    AwaitSettlement,
    Execute,
    Finish,
    RunView,
    StepView,
    Undo,
    decide,
    in_flight,
    settle,
    status_after,
)

STATUS = {
    "ok": "succeeded",
    "run": "running",
    "new": "pending",
    "wait": "waiting",
    "fail": "failed",
}


def step(idx: int, text: str) -> StepView:
    """``section:status[!][+u][~][/undo_status]``: ``!`` idempotent, ``+u`` has an undo,
    ``~`` continue_on_error."""
    section, rest = text.split(":")
    rest, _, undo = rest.partition("/")
    flags = rest.lstrip("abcdefghijklmnopqrstuvwxyz")
    status = rest[: len(rest) - len(flags)]
    return StepView(
        section={"main": MAIN, "rb": ROLLBACK}[section],
        idx=idx,
        name=f"{section}{idx}",
        status=STATUS[status],
        undo_status=undo or None,
        idempotent="!" in flags,
        has_undo="+u" in flags,
        continue_on_error="~" in flags,
    )


def run(*steps: str, status: str = "running", abort: bool = False) -> RunView:
    views: list[StepView] = []
    counters = {MAIN: 0, ROLLBACK: 0}
    for text in steps:
        view = step(0, text)
        idx = counters[view.section]
        counters[view.section] += 1
        views.append(
            StepView(
                view.section,
                idx,
                f"{text.split(':')[0]}{idx}",
                view.status,
                view.undo_status,
                view.idempotent,
                view.has_undo,
                view.continue_on_error,
            )
        )
    return RunView(status=status, abort_requested=abort, steps=tuple(views))


FORWARD: list[tuple[RunView, Action]] = [
    (run("main:new", "main:new", status="pending"), Execute(MAIN, 0)),
    (run("main:ok", "main:new", "main:new"), Execute(MAIN, 1)),
    (run("main:ok", "main:wait"), Execute(MAIN, 1)),
    (run("main:ok", "main:ok", "rb:new"), Finish("succeeded")),
    (run(status="pending"), Finish("succeeded")),
    (run("main:ok", "main:fail~", "main:new"), Execute(MAIN, 2)),
    (run("main:ok", "main:fail~", "main:ok"), Finish("succeeded")),
]

IN_FLIGHT: list[tuple[RunView, Action]] = [
    (run("main:ok", "main:run!", "main:new"), Execute(MAIN, 1, rerun=True)),
    (run("main:ok", "main:run", "main:new"), AwaitSettlement(MAIN, 1, "step")),
    (run("main:ok+u/done", "main:fail", "rb:run!"), Execute(ROLLBACK, 0, rerun=True)),
    (run("main:ok+u/done", "main:fail", "rb:run"), AwaitSettlement(ROLLBACK, 0, "step")),
    (run("main:ok+u!/running", "main:fail"), Undo(0, rerun=True)),
    (run("main:ok+u/running", "main:fail"), AwaitSettlement(MAIN, 0, "undo")),
]

ROLLBACK_ORDER: list[tuple[RunView, Action]] = [
    (run("main:ok+u", "main:ok+u", "main:fail+u", "main:new", "rb:new"), Undo(1)),
    (run("main:ok+u", "main:ok+u/done", "main:fail+u", "main:new", "rb:new"), Undo(0)),
    (run("main:ok+u", "main:ok", "main:ok+u", "main:fail"), Undo(2)),
    (run("main:ok+u", "main:ok", "main:ok+u/done", "main:fail"), Undo(0)),
    (
        run("main:ok+u/done", "main:ok+u/done", "main:fail", "rb:new", "rb:new"),
        Execute(ROLLBACK, 0),
    ),
    (
        run("main:ok+u/done", "main:fail", "rb:ok", "rb:new"),
        Execute(ROLLBACK, 1),
    ),
    (run("main:ok", "main:ok", "main:fail", "rb:new"), Execute(ROLLBACK, 0)),
    (run("main:ok+u", "main:new", "rb:new", abort=True), Undo(0)),
    (run("main:ok+u", "main:new", "rb:new", status="rolling_back"), Undo(0)),
]

ENDINGS: list[tuple[RunView, Action]] = [
    (run("main:ok+u/done", "main:fail", "rb:ok"), Finish("rolled_back")),
    (run("main:ok+u/done", "main:new", "rb:ok", abort=True), Finish("aborted")),
    (run("main:ok+u/failed", "main:fail", "rb:ok"), Finish("failed")),
    (run("main:ok+u/done", "main:fail", "rb:fail"), Finish("failed")),
    (run("main:ok+u/done", "main:fail", "rb:fail~"), Finish("rolled_back")),
    (run("main:ok", "main:fail", "rb:ok", status="rolled_back"), Finish("rolled_back")),
    (run("main:ok", "main:new", status="aborted"), Finish("aborted")),
    (run("main:ok", status="succeeded"), Finish("succeeded")),
]


def _ids(cases: list[tuple[RunView, Action]]) -> list[str]:
    out = []
    for view, action in cases:
        steps = " ".join(
            f"{s.section}{s.idx}={s.status}{'/' + s.undo_status if s.undo_status else ''}"
            for s in view.steps
        )
        out.append(f"{view.status}[{steps}]->{action}")
    return out


@pytest.mark.parametrize(("view", "expected"), FORWARD, ids=_ids(FORWARD))
def test_forward(view: RunView, expected: Action) -> None:
    assert decide(view) == expected


@pytest.mark.parametrize(("view", "expected"), IN_FLIGHT, ids=_ids(IN_FLIGHT))
def test_in_flight_reruns_only_idempotent_work(view: RunView, expected: Action) -> None:
    assert decide(view) == expected


@pytest.mark.parametrize(("view", "expected"), ROLLBACK_ORDER, ids=_ids(ROLLBACK_ORDER))
def test_rollback_undoes_newest_first_then_runs_rollback_steps(
    view: RunView, expected: Action
) -> None:
    assert decide(view) == expected


@pytest.mark.parametrize(("view", "expected"), ENDINGS, ids=_ids(ENDINGS))
def test_final_status(view: RunView, expected: Action) -> None:
    assert decide(view) == expected


def test_a_failed_run_walks_the_whole_rollback_in_order() -> None:
    """Apply each decision as the scheduler would and record the path taken."""
    steps: dict[tuple[str, int], tuple[str, str | None, bool]] = {
        (MAIN, 0): ("succeeded", None, True),
        (MAIN, 1): ("succeeded", None, True),
        (MAIN, 2): ("succeeded", None, False),
        (MAIN, 3): ("failed", None, True),
        (MAIN, 4): ("pending", None, True),
        (ROLLBACK, 0): ("pending", None, False),
        (ROLLBACK, 1): ("pending", None, False),
    }
    path: list[str] = []
    status = "running"
    for _ in range(20):
        view = RunView(
            status,
            False,
            tuple(
                StepView(sec, idx, f"{sec}{idx}", st, undo, False, has_undo)
                for (sec, idx), (st, undo, has_undo) in steps.items()
            ),
        )
        action = decide(view)
        status = status_after(view, action)
        if isinstance(action, Finish):
            path.append(f"finish {action.status}")
            break
        if isinstance(action, Undo):
            st, _, has_undo = steps[(MAIN, action.idx)]
            steps[(MAIN, action.idx)] = (st, "done", has_undo)
            path.append(f"undo main{action.idx}")
        elif isinstance(action, Execute):
            _, undo, has_undo = steps[(action.section, action.idx)]
            steps[(action.section, action.idx)] = ("succeeded", undo, has_undo)
            path.append(f"run {action.section}{action.idx}")
    assert path == [
        "undo main1",
        "undo main0",
        "run rollback0",
        "run rollback1",
        "finish rolled_back",
    ]


STATUS_AFTER: list[tuple[RunView, str]] = [
    (run("main:new", status="pending"), "running"),
    (run("main:ok", "main:run"), "awaiting_settlement"),
    (run("main:ok+u", "main:fail"), "rolling_back"),
    (run("main:ok", "main:fail", "rb:new"), "rolling_back"),
    (run("main:ok+u/done", "main:fail", "rb:ok"), "rolled_back"),
    (run("main:ok", "main:ok"), "succeeded"),
]


@pytest.mark.parametrize(("view", "expected"), STATUS_AFTER)
def test_status_while_an_action_is_under_way(view: RunView, expected: str) -> None:
    assert status_after(view, decide(view)) == expected


@pytest.mark.parametrize(
    ("what", "choice", "values"),
    [
        ("step", "rerun", {"status": "pending"}),
        ("step", "done", {"status": "succeeded"}),
        ("step", "rollback", {"status": "failed"}),
        ("undo", "rerun", {"undo_status": None}),
        ("undo", "done", {"undo_status": "done"}),
    ],
)
def test_settling_an_in_flight_step(what: str, choice: str, values: dict[str, str]) -> None:
    view = step(0, "main:run")
    assert settle(view, what, choice) == values


def test_settled_steps_lead_where_the_person_said() -> None:
    rerun = run("main:ok", "main:new", "main:new")
    assert decide(rerun) == Execute(MAIN, 1)
    done = run("main:ok", "main:ok", "main:new")
    assert decide(done) == Execute(MAIN, 2)
    rolled = run("main:ok+u", "main:fail", "main:new")
    assert decide(rolled) == Undo(0)


def test_in_flight_lists_steps_and_undos_started_but_not_finished() -> None:
    view = run("main:ok+u/running", "main:run", "main:new", "rb:run")
    assert [(s.name, what) for s, what in in_flight(view)] == [
        ("main0", "undo"),
        ("main1", "step"),
        ("rb0", "step"),
    ]
