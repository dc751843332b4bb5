"""The REST API of a real ``runwright serve`` (uvicorn, subprocess), driven with httpx.

Every action a person takes from the web goes through the same use cases as the CLI: the
initiator's approval is refused, two others must approve, a viewer may only read, an expired
token is refused, and the audit trail names the web users who acted.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import cli_in
from tests.support.web import WebServer, web_server

from runwright.engine.accounts import Accounts
from runwright.engine.store import Store

# Under xdist one worker runs the whole module: its server is started once per module.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web_api")]

BOOK = """\
name: shop
vars:
  dir: {dir}
  pause: "0"
environments:
  staging: {{identity: self_declared}}  # the tests also attest from a terminal as named users
  production:
    approvals: {{required: 2, not_by_initiator: true, expires: 1h}}
phases:
  - name: checks
    steps:
      - name: release checklist
        gate: ["changelog reviewed", "on-call engineer named"]
  - name: release
    steps:
      - name: ship
        run: >-
          sleep {{{{ pause }}}} &&
          echo shipped {{{{ version }}}} to {{{{ environment }}}} >> {{{{ dir }}}}/log
        undo: echo undone {{{{ version }}}} >> {{{{ dir }}}}/log
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("web-api")
    books = root / "books"
    books.mkdir()
    (root / "out").mkdir()
    (books / "shop.yaml").write_text(BOOK.format(dir=root / "out"))
    state = root / "state"
    state.mkdir()
    with web_server(state, books) as web:
        web.add_user("bob", "approver", "deployer")
        web.add_user("carol", "approver", envs=["production"])
        web.add_user("vic", "viewer")
        yield web


@pytest.fixture(scope="module")
def tokens(server: WebServer) -> dict[str, str]:
    return {name: server.token(name) for name in ("alice", "bob", "carol", "vic")}


@pytest.fixture(scope="module")
def as_(server: WebServer, tokens: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    """An API client per user, each with its own bearer token."""
    clients = {name: server.client(token) for name, token in tokens.items()}
    yield clients
    for c in clients.values():
        c.close()


def wait_status(c: httpx.Client, run: int, *wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail: dict[str, Any] = c.get(f"/api/v1/runs/{run}").raise_for_status().json()
        if detail["status"] in wanted or time.monotonic() > deadline:
            assert detail["status"] in wanted, detail
            return detail
        time.sleep(0.05)


def deploy(c: httpx.Client, env: str, version: str, **variables: str) -> int:
    r = c.post(
        "/api/v1/runs",
        json={"runbook": "shop", "environment": env, "version": version, "vars": variables},
    )
    assert r.status_code == 202, r.text
    return int(r.json()["run"])


def test_first_start_prints_a_one_time_login_link(server: WebServer) -> None:
    assert server.login_link.startswith(server.url + "/login?token=rw_l_")
    with httpx.Client(follow_redirects=True) as browser:
        first = browser.get(server.login_link)
        assert first.status_code == 200
        assert "alice" in first.text
        again = httpx.get(server.login_link)
        assert again.status_code == 401
        assert "already used" in again.text


def test_no_credential_or_an_expired_token_is_refused(server: WebServer) -> None:
    assert httpx.get(server.url + "/api/v1/runs").status_code == 401
    with server.client("rw_a_not-a-real-token") as c:
        assert c.get("/api/v1/runs").status_code == 401
    store = Store.open(f"sqlite:///{server.state_dir / 'runwright.db'}")
    now = datetime.now(UTC)
    Accounts(store.engine).add_token(
        "bob", "api", "rw_a_expired", now=now - timedelta(hours=2), expires=now, label="old"
    )
    store.close()
    with server.client("rw_a_expired") as c:
        refused = c.get("/api/v1/runs")
    assert refused.status_code == 401
    assert refused.json()["error"] == "token expired"


def test_a_viewer_reads_but_may_not_act(as_: dict[str, httpx.Client]) -> None:
    vic = as_["vic"]
    assert vic.get("/api/v1/runbooks").json()[0]["name"] == "shop"
    assert vic.get("/api/v1/runs").status_code == 200
    refused = vic.post(
        "/api/v1/runs", json={"runbook": "shop", "environment": "staging", "version": "v0"}
    )
    assert refused.status_code == 403
    assert "vic may not deploy in staging" in refused.json()["error"]
    assert vic.post("/api/v1/environments/staging/rollback", json={}).status_code == 403
    staging = as_["carol"].post(
        "/api/v1/runs", json={"runbook": "shop", "environment": "staging", "version": "v0"}
    )
    assert staging.status_code == 403


def test_production_needs_two_approvals_by_others(as_: dict[str, httpx.Client]) -> None:
    alice, bob, carol = as_["alice"], as_["bob"], as_["carol"]
    run = deploy(alice, "production", "v7")
    first = wait_status(alice, run, "awaiting_attestation", "awaiting_approval")
    if first["status"] == "awaiting_attestation":
        r = alice.post(f"/api/v1/runs/{run}/attest", json={"note": "checked"})
        assert r.status_code == 200, r.text
    waiting = wait_status(alice, run, "awaiting_approval")
    assert waiting["approvals"][0]["required"] == 2

    own = alice.post(f"/api/v1/runs/{run}/approve", json={"note": "mine"})
    assert own.status_code == 400
    assert "alice started this run and cannot approve it" in own.json()["error"]
    one = bob.post(f"/api/v1/runs/{run}/approve", json={"note": "diff read"})
    assert one.status_code == 200
    assert "1 of 2" in one.json()["message"]
    assert bob.post(f"/api/v1/runs/{run}/approve", json={"note": "x"}).status_code == 400
    assert wait_status(alice, run, "awaiting_approval")["status"] == "awaiting_approval"
    two = carol.post(f"/api/v1/runs/{run}/approve", json={"note": "on call agrees"})
    assert two.status_code == 200
    assert "2 of 2" in two.json()["message"]
    if first["status"] != "awaiting_attestation":
        wait_status(alice, run, "awaiting_attestation")
        alice.post(f"/api/v1/runs/{run}/attest", json={"note": "checked"}).raise_for_status()
    done = wait_status(alice, run, "succeeded")
    assert done["revision"] == 1

    events = alice.get(f"/api/v1/runs/{run}/events").json()
    actors = {(e["type"], e["actor"]) for e in events}
    assert ("approval.refused", "alice") in actors
    assert ("approval.given", "bob") in actors
    assert ("approval.given", "carol") in actors
    assert ("gate.attested", "alice") in actors
    assert ("run.created", "alice") in actors
    audit = alice.get(f"/api/v1/runs/{run}/audit").json()
    assert audit["ok"] is True
    report = alice.get(f"/api/v1/runs/{run}/report").text
    assert "bob" in report
    assert "carol" in report
    envs = {(e["runbook"], e["environment"]): e for e in alice.get("/api/v1/environments").json()}
    assert envs[("shop", "production")]["version"] == "v7"
    assert envs[("shop", "production")]["locked_by_run"] is None
    out = alice.get(f"/api/v1/runs/{run}/output", params={"step": "ship"}).json()
    assert out[0]["step"] == "ship"


def test_reject_rolls_back_with_the_note(as_: dict[str, httpx.Client]) -> None:
    alice, bob = as_["alice"], as_["bob"]
    run = deploy(alice, "production", "v8")
    state = wait_status(alice, run, "awaiting_attestation", "awaiting_approval")
    if state["status"] == "awaiting_attestation":
        alice.post(f"/api/v1/runs/{run}/attest", json={"note": "ok"}).raise_for_status()
        wait_status(alice, run, "awaiting_approval")
    r = bob.post(f"/api/v1/runs/{run}/reject", json={"note": "not during the sale"})
    assert r.status_code == 200, r.text
    ended = wait_status(alice, run, "rolled_back", "aborted")
    assert ended["reason"] == "aborted by bob: approval rejected by bob: not during the sale"
    types = [(e["type"], e["actor"]) for e in alice.get(f"/api/v1/runs/{run}/events").json()]
    assert ("approval.rejected", "bob") in types


def test_abort_a_running_deploy(as_: dict[str, httpx.Client]) -> None:
    alice, bob = as_["alice"], as_["bob"]
    run = deploy(alice, "staging", "v9", pause="30")
    wait_status(alice, run, "awaiting_attestation")
    alice.post(f"/api/v1/runs/{run}/attest", json={"note": "ok"}).raise_for_status()
    wait_status(alice, run, "running")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        steps = {s["name"]: s["status"] for s in alice.get(f"/api/v1/runs/{run}").json()["steps"]}
        if steps.get("ship") == "running":
            break
        time.sleep(0.05)
    r = bob.post(f"/api/v1/runs/{run}/abort", json={"reason": "wrong build"})
    assert r.status_code == 200, r.text
    ended = wait_status(alice, run, "aborted", "rolled_back", timeout=30)
    assert ended["reason"]
    events = alice.get(f"/api/v1/runs/{run}/events").json()
    assert ("run.abort_requested", "bob") in {(e["type"], e["actor"]) for e in events}


def test_rollback_shows_its_plan_then_redeploys(
    server: WebServer, as_: dict[str, httpx.Client]
) -> None:
    alice = as_["alice"]
    for version in ("v1", "v2"):
        run = deploy(alice, "staging", version)
        wait_status(alice, run, "awaiting_attestation")
        alice.post(f"/api/v1/runs/{run}/attest", json={"note": "ok"}).raise_for_status()
        wait_status(alice, run, "succeeded")
    plan = alice.get("/api/v1/environments/staging/rollback-plan", params={"runbook": "shop"})
    assert plan.status_code == 200, plan.text
    assert "from v2" in plan.json()["header"]
    assert plan.json()["version"] == "v1"
    assert plan.json()["executed"] is False
    with httpx.Client(base_url=server.url) as browser:
        browser.get(server.login_url("alice").removeprefix(server.url))
        page = browser.get("/rollback", params={"env": "staging", "runbook": "shop"}).text
    assert "Rollback of shop/staging from v2 to revision" in page
    assert "not executed" in page
    assert 'id="rollback"' in page
    started = alice.post("/api/v1/environments/staging/rollback", json={"runbook": "shop"})
    assert started.status_code == 202, started.text
    run = started.json()["run"]
    done = wait_status(alice, run, "succeeded")  # an emergency rollback skips the checklist
    assert done["kind"] == "rollback"
    assert done["version"] == "v1"
    listed = alice.get("/api/v1/runs", params={"environment": "staging", "limit": 2}).json()
    assert [r["id"] for r in listed["runs"]][0] == run
    assert listed["total"] >= 3


def test_settle_and_resume_a_run_a_crash_left_in_flight(
    server: WebServer, as_: dict[str, httpx.Client], tmp_path: Path
) -> None:
    cli = cli_in(server.state_dir)
    crashed = cli(
        "deploy",
        str(server.runbooks / "shop.yaml"),
        "-e",
        "staging",
        "--version",
        "v5",
        "--var",
        f"dir={tmp_path}",
    )
    assert crashed.returncode == 3
    run = int(crashed.stderr.split("run ")[1].split(":")[0])
    assert cli("attest", str(run), "--all", "--note", "ok").returncode == 0
    died = cli("resume", str(run), env={"RUNWRIGHT_CRASH_AT": "started:ship"})
    assert died.returncode != 0
    bob = as_["bob"]
    with httpx.Client(base_url=server.url) as browser:
        browser.get(server.login_url("bob").removeprefix(server.url))
        page = browser.get(f"/runs/{run}").text
    assert "The step of 'ship' was in flight when runwright stopped" in page
    assert 'value="rollback"' in page
    settled = bob.post(f"/api/v1/runs/{run}/settle", json={"step": "ship", "choice": "done"})
    assert settled.status_code == 200, settled.text
    assert "settled as done" in settled.json()["message"]
    assert bob.post(f"/api/v1/runs/{run}/resume").status_code == 200
    assert wait_status(bob, run, "succeeded")["status"] == "succeeded"
    events = bob.get(f"/api/v1/runs/{run}/events").json()
    assert ("step.settled", "bob") in {(e["type"], e["actor"]) for e in events}


def test_openapi_documents_the_actions(server: WebServer) -> None:
    spec = httpx.get(server.url + "/api/v1/openapi.json").json()
    for path in ("/api/v1/runs", "/api/v1/runs/{run_id}/approve", "/api/v1/runs/{run_id}/settle"):
        assert path in spec["paths"]


def frames(c: httpx.Client, path: str, want: int, headers: dict[str, str] | None = None) -> list:
    """The first ``want`` events of an SSE stream, as (id, event) pairs."""
    got: list[tuple[int, dict[str, Any]]] = []
    with c.stream("GET", path, headers=headers or {}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        ident = 0
        for text_line in r.iter_lines():
            if text_line.startswith("id: "):
                ident = int(text_line[4:])
            elif text_line.startswith("data: "):
                got.append((ident, json.loads(text_line[6:])))
                if len(got) == want:
                    break
    return got


def test_event_stream_resumes_from_last_event_id(
    server: WebServer, as_: dict[str, httpx.Client], tmp_path: Path
) -> None:
    alice = as_["alice"]
    run = deploy(alice, "staging", "v11", dir=str(tmp_path))
    wait_status(alice, run, "awaiting_attestation")
    first = frames(alice, f"/api/v1/events/stream?run={run}&after=0", 2)
    assert [e["seq"] for _, e in first] == [1, 2]
    assert first[0][1]["type"] == "run.created"
    resumed_after = first[1][0]
    cli = cli_in(server.state_dir)
    assert cli("attest", str(run), "--all", "--note", "from a terminal", user="bob").returncode == 0
    assert cli("resume", str(run)).returncode == 0
    stored = alice.get(f"/api/v1/runs/{run}/events").json()
    rest = frames(
        alice,
        f"/api/v1/events/stream?run={run}",
        len(stored) - 2,
        headers={"Last-Event-ID": str(resumed_after)},
    )
    assert [e["seq"] for _, e in rest] == [e["seq"] for e in stored[2:]]
    assert ("gate.attested", "bob") in {(e["type"], e["actor"]) for _, e in rest}
    assert rest[-1][1]["type"] == stored[-1]["type"]


def test_stopping_the_server_does_not_wait_for_a_run(tmp_path: Path) -> None:
    books, state = tmp_path / "books", tmp_path / "state"
    books.mkdir()
    state.mkdir()
    (books / "slow.yaml").write_text(
        "name: slow\nphases:\n  - name: all\n    steps:\n      - {name: long, run: sleep 30}\n"
    )
    with web_server(state, books) as web:
        token = web.token("alice")
        with web.client(token) as c, c.stream("GET", "/api/v1/events/stream") as stream:
            run = c.post("/api/v1/runs", json={"runbook": "slow", "version": "v1"}).json()["run"]
            wait_status(c, run, "running")
            assert stream.status_code == 200
            began = time.monotonic()
            os.killpg(web.process.pid, signal.SIGTERM)
            web.process.wait(timeout=15)
            stopped_in = time.monotonic() - began
    assert stopped_in < 10
    status = cli_in(state)("status", str(run), "--json")
    assert json.loads(status.stdout)["status"] == "running"


def test_a_sent_runbook_is_refused_unless_the_server_accepts_them(
    as_: dict[str, httpx.Client],
) -> None:
    sent = {"runbook": "", "file": "shop.yaml", "text": BOOK.format(dir="/nonexistent")}
    r = as_["alice"].post("/api/v1/runs", json={**sent, "environment": "staging", "version": "v1"})
    assert r.status_code == 403
    assert "only the runbooks of its --runbooks directory" in r.json()["error"]
    assert "--accept-sent-runbooks" in r.json()["hint"]
    assert as_["alice"].post("/api/v1/plans", json=sent).status_code == 403
