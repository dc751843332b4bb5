"""``gate``: every checklist item is proven by a check or attested by a person, with who and
when kept as evidence; the run waits for the people and fails on a disproven item."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.unit.steps.conftest import App, Harness, Server

from runwright.app.reads import report
from runwright.app.runs import runs
from runwright.steps.gate import KIND, GateParams
from runwright.steps.registry import params_as

GATE = """
name: gated
phases:
  - name: checks
    steps:
      - name: pre-flight
        gate:
          title: Pre-deployment checklist
          items:
            - text: health endpoint answers
              check: {{http: "{url}/health"}}
            - text: disk has room
              check: {{run: "test -d /"}}
            - attest: release notes reviewed
            - change ticket approved
  - name: go
    steps:
      - run: "true"
"""


async def test_proven_items_need_no_person_and_keep_their_evidence(
    harness: Harness, server: Server
) -> None:
    ctx = harness.context(
        "gate",
        [
            {"text": "health", "check": {"http": server.url}},
            {"text": "root", "check": {"run": "test -d /"}},
        ],
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert outcome.summary == "2 item(s) hold"
    items = outcome.data["items"]
    assert [(i["item"], i["proven"]) for i in items] == [(1, True), (2, True)]
    assert items[0]["evidence"].startswith("200 in ")
    assert [r[0] for r in harness.records] == ["gate.item", "gate.item"]


async def test_an_item_that_is_not_proven_fails_the_gate(harness: Harness) -> None:
    ctx = harness.context("gate", [{"text": "no lock file", "check": {"run": "test -e /nope"}}])
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary == "gate item 1 'no lock file' not proven: exit code 1"


async def test_items_for_people_block_until_attested(harness: Harness) -> None:
    ctx = harness.context("gate", ["backups checked", "on-call told"], name="sheet")
    blocked = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert blocked.status == "blocked"
    assert blocked.blocked_on == "awaiting_attestation"
    assert "2 item(s) need a person: [1] backups checked; [2] on-call told" in blocked.summary
    harness.approve("sheet", "bob", kind="attestation", item=1)
    assert (await KIND.execute(ctx, params_as(ctx.spec, KIND.params))).status == "blocked"
    harness.approve("sheet", "carol", kind="attestation", item=2)
    done = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert done.status == "succeeded"
    assert [(i["item"], i["attested_by"]) for i in done.data["items"]] == [(1, "bob"), (2, "carol")]


async def test_a_person_at_the_terminal_can_confirm_items(harness: Harness) -> None:
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return True

    ctx = harness.context(
        "gate",
        ["backups checked"],
        name="sheet",
        actor="dave",
        interactive=confirm,
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert asked == ["[1] backups checked -- confirm"]
    assert harness.attested == [("sheet", 1, "confirmed at the terminal")]
    assert outcome.data["items"][0]["attested_by"] == "dave"


def test_a_check_must_be_one_known_action() -> None:
    with pytest.raises(ValidationError, match="a check is one action"):
        GateParams.model_validate([{"text": "x", "check": {"wait": "5s"}}])
    with pytest.raises(ValidationError):
        GateParams.model_validate({"items": []})


def test_a_run_waits_for_attestation_then_reports_who_proved_what(app: App, server: Server) -> None:
    run = app.deploy(GATE.format(url=server.url))
    assert run.status == "awaiting_attestation"
    assert runs.exit_code_for(run) == 3
    step = app.rt.store.steps(run.id)[0]
    assert "[3] release notes reviewed; [4] change ticket approved" in (step.summary or "")

    app.as_user("bob")
    message = app.attest(run.id, "notes are fine", [3])
    assert "item(s) 3 of 'pre-flight' (deploy phase) attested by bob" in message
    assert app.resume(run.id).status == "awaiting_attestation"
    app.as_user("carol")
    app.attest(run.id, "CHG-1234", [4])
    final = app.resume(run.id)
    assert final.status == "succeeded"

    sheet = report.markdown(app.rt, final)
    assert "| pre-flight | health endpoint answers | check |" in sheet
    assert "| pre-flight | disk has room | check |" in sheet
    assert "| pre-flight | release notes reviewed | bob |" in sheet
    assert "| pre-flight | change ticket approved | carol |" in sheet
    assert "CHG-1234" in sheet


def test_plan_shows_every_proof_of_an_item_not_only_the_first() -> None:
    from runwright.steps.base import PlanContext

    params = {
        "items": [
            {
                "text": "ground is ready",
                "check": {
                    "preflight": [
                        {"env": ["HOME"]},
                        {"disk": {"path": "/tmp", "min_free_percent": 5}},
                    ]
                },
            },
            {
                "text": "site answers",
                "check": {"http": {"url": "http://x/", "expect": {"body_contains": "ok"}}},
            },
        ]
    }
    lines = KIND.describe(KIND.params.model_validate(params), PlanContext({}, "staging", "v1"))
    assert lines == [
        "[1] ground is ready -- proven by: check env set: HOME",
        "      and check disk /tmp: at least 5% free",
        "[2] site answers -- proven by: GET http://x/ expect 200",
        "      and body contains 'ok'",
    ]
