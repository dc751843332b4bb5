"""Remote mode end to end: ``runwright serve --workers 1`` on PostgreSQL, and people whose
CLI knows only the server's URL and their own token.

A deployer logs in, deploys a runbook file from their machine (sent with the deploy), a
second person approves, the deployer follows the logs live and rolls back, all through the
API: their CLI never imports a database driver, never connects to the database and never
opens an audit key (an audit hook in each CLI process records any of it). Remote and local
mode print the same ``--json`` and end with the same exit codes; a viewer's token cannot
deploy and a token scoped to staging cannot touch production.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import pytest
import yaml
from tests.conftest import ROOT, cli_command
from tests.support.postgres import Cluster
from tests.support.receivers import Receiver, receiver
from tests.support.remote import Person, ServerSide, person
from tests.support.web import web_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("remote_cli")]

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOOK = """\
name: shop
vars:
  dir: {out}
environments:
  staging: {{}}
  production:
    approvals: {{required: 1, not_by_initiator: true, expires: 1h}}
sinks:
  chat:
    slack: {{webhook: "{slack}", approval_buttons: true}}
notify:
  - to: chat
    events: [awaiting_approval]
phases:
  - name: release
    steps:
      - name: ship
        run: >-
          test {{{{ version }}}} != bad &&
          echo shipped {{{{ version }}}} to {{{{ environment }}}} >> {{{{ dir }}}}/log
        undo: echo undone {{{{ version }}}} in {{{{ environment }}}} >> {{{{ dir }}}}/log
"""


@dataclass
class Lab:
    server: ServerSide
    url: str
    book: Path
    out: Path
    slack: Receiver
    people: dict[str, Person]
    tokens: dict[str, str]

    def api(self, name: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[name]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def as_ci(self, name: str) -> dict[str, str]:
        """The environment a CI job of ``name`` runs with: server and token, nothing else."""
        return {"RUNWRIGHT_SERVER": self.url, "RUNWRIGHT_TOKEN": self.tokens[name]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Cluster) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("remote")
    url = pg_cluster.createdb(f"rw_{uuid4().hex[:12]}").replace("+psycopg", "")
    state, books, out = root / "server-state", root / "server-books", root / "out"
    for d in (state, books, out):
        d.mkdir()
    with receiver(lambda _req: (200, None)) as slack:
        text = BOOK.format(out=out, slack=slack.url)
        (books / "shop.yaml").write_text(text)
        env = {"RUNWRIGHT_DATABASE_URL": url, "RUNWRIGHT_LEASE_TTL": "5"}
        args = [
            "--workers",
            "1",
            "--slack-signing-secret",
            SIGNING_SECRET,
            "--accept-sent-runbooks",
        ]
        with web_server(state, books, args=args, env=env) as web:
            side = ServerSide(web, url)
            side.admin("users", "add", "dave", "--role", "deployer", "--role", "approver")
            side.admin("users", "add", "bob", "--role", "approver")
            side.admin("users", "add", "carol", "--role", "approver")
            side.admin("users", "add", "vic", "--role", "viewer")
            side.admin("users", "add", "ci", "--role", "deployer")
            tokens = {
                name: side.admin("users", "token", name, "--expires", "1h")
                for name in ("alice", "dave", "bob", "carol", "vic")
            }
            tokens["ci"] = side.admin(
                "users", "token", "ci", "--env", "staging", "--role", "deployer", "--label", "ci"
            )
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            people = {n: person(root, n, port) for n in ("dave", "bob", "carol", "vic", "ci")}
            book = people["dave"].home / "shop.yaml"
            book.write_text(text)
            yield Lab(side, web.url, book, out, slack, people, tokens)


def clean(p: Person) -> None:
    assert p.touched() == [], f"{p.name}'s CLI touched the database or a key: {p.touched()}"
    assert not list(p.home.rglob("audit.key"))


def wait_for(lab: Lab, run: int, *wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with lab.api("alice") as c:
        while True:
            detail: dict[str, Any] = c.get(f"/api/v1/runs/{run}").json()
            if detail["status"] in wanted or time.monotonic() > deadline:
                assert detail["status"] in wanted, detail
                return detail
            time.sleep(0.1)


def remote_deploy(lab: Lab, who: str, env: str, version: str, *extra: str) -> Any:
    p = lab.people[who]
    args = ("deploy", str(lab.book), "-e", env, "--version", version, "--json", *extra)
    return p.run(*args, **lab.as_ci(who))


def test_login_deploy_approve_follow_rollback_all_through_the_server(lab: Lab) -> None:
    dave, bob = lab.people["dave"], lab.people["bob"]
    login = dave.run("login", lab.url, "--token-stdin", stdin=lab.tokens["dave"] + "\n")
    assert login.returncode == 0, login.stderr
    assert "logged in to " + lab.url + " as dave (" in login.stdout
    creds = dave.home / ".config" / "runwright" / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    run_ids = []
    for version in ("v1", "v2"):
        blocked = dave.run("deploy", str(lab.book), "-e", "production", "--version", version,
                           "--json")  # fmt: skip
        assert blocked.returncode == 3, blocked.stderr
        detail = json.loads(blocked.stdout)
        assert detail["status"] == "awaiting_approval"
        run_id = detail["id"]
        own = dave.run("approve", str(run_id), "--note", "mine")
        assert own.returncode == 2
        assert "dave started this run and cannot approve it" in own.stderr
        ok = bob.run("approve", str(run_id), "--note", "diff read", **lab.as_ci("bob"))
        assert ok.returncode == 0, ok.stderr
        assert "approved by bob" in ok.stdout
        followed = dave.run("logs", str(run_id), "--follow")
        assert followed.returncode == 0, followed.stderr
        assert "approval.given" in followed.stdout
        assert "run.finished" in followed.stdout.splitlines()[-1]
        run_ids.append(run_id)
    assert wait_for(lab, run_ids[-1], "succeeded")["revision"] == 2

    # An emergency rollback to the previous revision needs nobody by default (production's
    # `rollback:` rules could ask for approvals), remotely as locally.
    back = dave.run("rollback", "-e", "production", "--json")
    assert back.returncode == 0, back.stderr
    rollback = json.loads(back.stdout)
    assert rollback["kind"] == "rollback"
    followed = dave.run("logs", str(rollback["id"]), "--follow", "--json")
    assert json.loads(followed.stdout.splitlines()[-1])["type"] == "run.finished"
    assert wait_for(lab, rollback["id"], "succeeded")["version"] == "v1"
    log = (lab.out / "log").read_text().splitlines()
    assert log[-1] == "shipped v1 to production", log

    with lab.api("alice") as c:
        created = next(
            e for e in c.get(f"/api/v1/runs/{run_ids[0]}/events").json()
            if e["type"] == "run.created"
        )  # fmt: skip
    assert created["actor"] == "dave"
    assert created["data"]["file"] == "shop.yaml"
    assert len(created["data"]["digest"]) == 64
    clean(dave)
    clean(bob)


def _local(lab: Lab, *args: str) -> Any:
    return lab.server.cli(*args)


def test_remote_and_local_print_the_same_json_and_exit_codes(lab: Lab) -> None:
    dave = lab.people["dave"]
    ok = remote_deploy(lab, "dave", "staging", "s1")
    assert ok.returncode == 0, ok.stderr
    run_id = json.loads(ok.stdout)["id"]
    for args in (
        ("plan", str(lab.book), "-e", "staging", "--version", "v5", "--json"),
        ("status", "--json"),
        ("status", str(run_id), "--json"),
        ("history", "--json", "--limit", "5"),
        ("report", str(run_id)),
        ("logs", str(run_id), "--json"),
        ("environments", "--json"),
        ("audit", "verify", str(run_id), "--json"),
    ):
        remote = dave.run(*args, **lab.as_ci("dave"))
        local = _local(lab, *args)
        assert remote.returncode == local.returncode == 0, (args, remote.stderr, local.stderr)
        assert remote.stdout == local.stdout, args

    failed = remote_deploy(lab, "dave", "staging", "bad")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["status"] == "rolled_back"
    local_failed = _local(lab, "deploy", str(lab.book), "-e", "staging", "--version", "bad")
    assert local_failed.returncode == 1, local_failed.stderr

    blocked = remote_deploy(lab, "dave", "production", "p9")
    assert blocked.returncode == 3, blocked.stderr
    blocked_id = json.loads(blocked.stdout)["id"]
    other = _local(lab, "deploy", str(lab.book), "-e", "production", "--version", "p10")
    assert other.returncode == 3, other.stderr
    assert f"run {blocked_id}" in other.stderr
    rejected = lab.people["bob"].run("reject", str(blocked_id), "--note", "no", **lab.as_ci("bob"))
    assert rejected.returncode == 0, rejected.stderr
    wait_for(lab, blocked_id, "rolled_back", "aborted")
    clean(dave)


def test_a_viewer_cannot_deploy_and_a_staging_token_cannot_touch_production(lab: Lab) -> None:
    refused = remote_deploy(lab, "vic", "staging", "x1")
    assert refused.returncode == 2
    assert "vic may not deploy in staging: that needs the deployer role" in refused.stderr
    with lab.api("vic") as c:
        body = {"runbook": "shop", "environment": "staging", "version": "x1"}
        assert c.post("/api/v1/runs", json=body).status_code == 403

    prod = remote_deploy(lab, "ci", "production", "x2")
    assert prod.returncode == 2
    assert "ci may not deploy in production" in prod.stderr
    assert "deployer@staging (this token's scope)" in prod.stderr
    with lab.api("ci") as c:
        assert c.post("/api/v1/environments/production/rollback", json={}).status_code == 403
    staging = remote_deploy(lab, "ci", "staging", "x3")
    assert staging.returncode == 0, staging.stderr
    by_name = lab.people["ci"].run("deploy", "shop", "-e", "staging", "--version", "x4",
                                   **lab.as_ci("ci"))  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr  # the server's own --runbooks copy
    clean(lab.people["vic"])
    clean(lab.people["ci"])


def test_a_revoked_token_is_refused_at_once(lab: Lab) -> None:
    secret = lab.server.admin("users", "token", "carol", "--label", "laptop")
    listed = lab.server.admin("users", "tokens", "carol")
    token_id = next(line.split()[0] for line in listed.splitlines() if "laptop" in line)
    carol = lab.people["carol"]
    env = {"RUNWRIGHT_SERVER": lab.url, "RUNWRIGHT_TOKEN": secret}
    assert carol.run("history", **env).returncode == 0
    lab.server.admin("users", "revoke-token", token_id)
    gone = carol.run("history", **env)
    assert gone.returncode == 2
    assert "refused the token" in gone.stderr


def test_without_a_server_or_a_database_the_cli_says_which_to_give(tmp_path: Path) -> None:
    nobody = person(tmp_path, "nobody", 1)
    done = nobody.run("status")
    assert done.returncode == 2
    assert "no server and no database given" in done.stderr
    assert "runwright login URL" in done.stderr
    assert "--database-url" in done.stderr
    assert nobody.touched() == []


def _press(run: int, slack_id: str, response_url: str, action: str = "runwright_approve") -> bytes:
    """A button press as Slack posts it: a form with the JSON ``payload``."""
    payload = {
        "type": "block_actions",
        "user": {"id": slack_id, "username": slack_id.lower(), "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "shop"},
        "channel": {"id": "C0001", "name": "deploys"},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": f"runwright_decide_{run}",
                "value": str(run),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def _signed(body: bytes, at: float | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _replies(rec: Receiver, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(rec.bodies()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [json.loads(b) for b in rec.bodies()]


def test_approving_from_slack_checks_signature_freshness_replays_links_and_policy(
    lab: Lab,
) -> None:
    blocked = remote_deploy(lab, "dave", "production", "sl1")
    assert blocked.returncode == 3, blocked.stderr
    run = json.loads(blocked.stdout)["id"]
    deadline = time.monotonic() + 15
    asked: list[Any] = []
    while not asked and time.monotonic() < deadline:
        for body in lab.slack.bodies():
            for block in json.loads(body)["blocks"]:
                if block["type"] == "actions" and block.get("block_id", "").endswith(f"_{run}"):
                    asked.append(block)
        time.sleep(0.1)
    assert asked, "the Slack sink posted no Approve/Reject buttons for the run"
    buttons = {e["action_id"]: e for e in asked[0]["elements"]}
    assert buttons["runwright_approve"]["value"] == str(run)
    assert buttons["runwright_reject"]["style"] == "danger"

    lab.server.admin("users", "link-slack", "bob", "UBOB0001")
    lab.server.admin("users", "link-slack", "dave", "UDAVE001")
    endpoint = lab.url + "/api/v1/slack/interactions"
    with receiver(lambda _req: (200, {"ok": True})) as slack_msg:
        reply_to = slack_msg.url + "/actions/T0001/1"
        bob_press = _press(run, "UBOB0001", reply_to)
        forged = httpx.post(endpoint, content=bob_press, headers=_signed(bob_press, secret="x"))
        assert forged.status_code == 401
        assert "bad signature" in forged.json()["error"]
        stale = httpx.post(
            endpoint, content=bob_press, headers=_signed(bob_press, time.time() - 400)
        )
        assert stale.status_code == 401
        assert "stale timestamp" in stale.json()["error"]
        assert _replies(slack_msg, 0, timeout=0) == []  # unverified requests get no reply

        stranger = _press(run, "UNOBODY01", reply_to)
        unlinked = httpx.post(endpoint, content=stranger, headers=_signed(stranger))
        assert unlinked.status_code == 200
        assert "UNOBODY01 is not linked" in unlinked.json()["error"]
        own_press = _press(run, "UDAVE001", reply_to)
        own = httpx.post(endpoint, content=own_press, headers=_signed(own_press))
        assert "dave started this run and cannot approve it" in own.json()["error"]
        refusals = _replies(slack_msg, 2)
        assert [r["response_type"] for r in refusals] == ["ephemeral", "ephemeral"]
        assert "not linked" in refusals[0]["text"]

        headers = _signed(bob_press)
        approved = httpx.post(endpoint, content=bob_press, headers=headers)
        assert approved.status_code == 200, approved.text
        assert approved.json()["ok"] is True
        updated = _replies(slack_msg, 3)[2]
        assert updated["replace_original"] is True
        assert "approved by bob" in updated["text"]
        replay = httpx.post(endpoint, content=bob_press, headers=headers)
        assert replay.status_code == 401
        assert "replayed" in replay.json()["error"]

    assert wait_for(lab, run, "succeeded")["status"] == "succeeded"
    with lab.api("alice") as c:
        events = c.get(f"/api/v1/runs/{run}/events").json()
    refused = [e["data"]["reason"] for e in events if e["type"] == "slack.refused"]
    assert len(refused) == 5, refused
    for words in ("bad signature", "stale timestamp", "not linked", "cannot approve", "replayed"):
        assert any(words in reason for reason in refused), (words, refused)
    given = next(e for e in events if e["type"] == "approval.given")
    assert (given["actor"], given["data"]["via"]) == ("bob", "slack")
    assert any(e["type"] == "approval.refused" and e["actor"] == "dave" for e in events)


def _github_job(name: str) -> dict[str, Any]:
    text = (ROOT / "docs" / "ci.md").read_text()
    section = text.split("## GitHub Actions", 1)[1]
    workflow = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    job: dict[str, Any] = workflow["jobs"][name]
    return job


def test_the_github_actions_job_of_docs_ci_deploys_staging_through_the_server(
    lab: Lab, tmp_path: Path
) -> None:
    job = _github_job("staging")
    assert job["env"]["RUNWRIGHT_TOKEN"] == "${{ secrets.RUNWRIGHT_TOKEN_STAGING }}"
    lines = [s["run"] for s in job["steps"] if "run" in s]
    assert lines[0] == "pip install runwright"  # installed here already: the rest runs as is
    checkout = tmp_path / "checkout"
    (checkout / "runbooks").mkdir(parents=True)
    (checkout / "runbooks" / "shop.yaml").write_text(lab.book.read_text())
    runner = lab.people["ci"]
    sha = "3f2a9c1d" * 5
    env = runner.env(
        **lab.as_ci("ci"),
        GITHUB_SHA=sha,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    )
    for line in lines[1:]:
        done = subprocess.run(
            ["bash", "-e", "-c", line], cwd=checkout, env=env, capture_output=True, text=True,
            timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    assert f"{sha[:12]}  succeeded  by ci" in done.stdout
    assert (lab.out / "log").read_text().splitlines()[-1] == f"shipped {sha[:12]} to staging"
    clean(runner)
    production = _github_job("production")
    assert "-e production" in production["steps"][-1]["run"]
    assert production["env"]["RUNWRIGHT_TOKEN"] == "${{ secrets.RUNWRIGHT_TOKEN_PRODUCTION }}"


def test_login_in_the_browser_confirms_the_terminals_code(lab: Lab) -> None:
    carol = lab.people["carol"]
    proc = subprocess.Popen(
        [*cli_command(), "login", lab.url, "--browser"], env=carol.env(), cwd=carol.home,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        address = proc.stderr.readline().split()[-1]
        code = proc.stderr.readline().split()[-1]
        assert address == f"{lab.url}/device?code={code}"
        away = httpx.get(address)
        assert away.status_code == 303
        assert away.headers["location"].startswith("/login?next=/device")
        link = lab.server.admin("token", "create", "--user", "carol", "--login", "--url", lab.url)
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            assert browser.get(link).status_code == 200
            page = browser.get(address)
            assert code in page.text
            forged = browser.post(lab.url + "/device", data={"code": code})
            assert forged.status_code == 403
            found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert found is not None
            form = {"csrf_token": found.group(1), "code": code}
            done = browser.post(lab.url + "/device", data=form)
            assert done.status_code == 200
            assert 'id="confirmed"' in done.text
            assert browser.post(lab.url + "/device", data=form).status_code == 400  # used
        out, errors = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, errors
    assert "as carol" in out
    who = carol.run("whoami")
    assert who.stdout.startswith(f"carol on {lab.url}: approver@*"), who.stderr
    clean(carol)
