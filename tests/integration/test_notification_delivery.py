"""Notifications never hold a release up, and none is lost while a receiver is down.

A receiver that trickles one byte every 5 seconds does not delay ``deploy``'s exit by more
than a second after the run ended, nor its steps; a message that failed while its receiver
was down waits in the journal (``runwright deliveries`` shows it, with its next attempt) and
is delivered exactly once when the receiver is back, by whichever process looks next.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import RunCli
from tests.support.postgres import free_port
from tests.support.receivers import failing_first, receiver, signed_by, trickling

pytestmark = pytest.mark.slow
KEY = "hook-key-7Yq"


def book(
    tmp_path: Path, url: str, *, backoff: str = "0.2s", timeout: str = "5s", name: str = "notify"
) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"""\
name: told
secrets:
  HOOK_KEY: {{env: HOOK_KEY}}
environments:
  production: {{}}
sinks:
  hook:
    webhook: {{url: "{url}/events", secret: "{{{{ secrets.HOOK_KEY }}}}", timeout: {timeout},
               backoff: {backoff}}}
notify:
  - to: hook
phases:
  - name: release
    steps:
      - name: first
        run: sleep 0.7
      - name: second
        run: sleep 0.7
"""
    )
    return path


def timed_deploy(run_cli: RunCli, path: Path, version: str) -> tuple[float, dict[str, Any]]:
    """Seconds from the run's end to the deploy command's exit, and the run's status."""
    done = run_cli("deploy", str(path), "--version", version, env={"HOOK_KEY": KEY})
    exited = time.time()
    assert done.returncode == 0, done.stderr
    status = json.loads(run_cli("status", version.removeprefix("v"), "--json").stdout)
    return exited - datetime.fromisoformat(status["finished_at"]).timestamp(), status


def test_a_trickling_receiver_does_not_hold_up_the_deploy(run_cli: RunCli, tmp_path: Path) -> None:
    after: dict[str, list[float]] = {"fast": [], "trickling": []}
    with trickling(interval=5.0) as slow, receiver(failing_first(0)) as fast:
        books = {
            "fast": book(tmp_path, fast.url, name="fast"),
            "trickling": book(tmp_path, slow, name="slow", timeout="1s", backoff="60s"),
        }
        for n, kind in enumerate(["fast", "trickling", "fast", "trickling"], 1):
            seconds, _ = timed_deploy(run_cli, books[kind], f"v{n}")
            after[kind].append(seconds)
    delay = min(after["trickling"]) - min(after["fast"])
    assert delay < 1.0, f"a trickling receiver delayed deploy's exit by {delay:.2f}s"
    owed = json.loads(run_cli("deliveries", "--json").stdout)
    assert {(d["run"], d["event"]) for d in owed} == {
        (run, event) for run in (2, 4) for event in ("started", "succeeded")
    }
    assert {d["status"] for d in owed} == {"failed"}
    for d in owed:  # "started" ran into its deadline; "succeeded" was left for later
        assert d["next_attempt"] is not None
        if d["event"] == "started":
            assert d["detail"] == "cannot deliver: no complete answer within 1s"
            assert d["attempts"] == 1


def test_a_message_that_failed_while_the_receiver_was_down_arrives_once(
    run_cli: RunCli, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    done = run_cli("deploy", str(book(tmp_path, url)), "--version", "v1", env={"HOOK_KEY": KEY})
    assert done.returncode == 0, done.stderr
    listed = run_cli("deliveries")
    assert "run 1 succeeded -> hook: failed after" in listed.stdout
    assert "cannot reach webhook" in listed.stdout

    with receiver(failing_first(0), port=port) as hook:
        deadline = time.monotonic() + 20
        while len(hook.requests) < 2 and time.monotonic() < deadline:
            run_cli("deliveries", "--retry", env={"HOOK_KEY": KEY})
        for _ in range(2):  # nothing more is due: nothing is sent twice
            run_cli("deliveries", "--retry", env={"HOOK_KEY": KEY})
        events = sorted(r.json()["event"] for r in hook.requests)
        assert events == ["started", "succeeded"]
        assert all(signed_by(KEY, r) for r in hook.requests)
    assert run_cli("deliveries").stdout.strip() == "every notification was delivered"
    log = json.loads(run_cli("logs", "1", "--json").stdout)
    sent = [e["data"] for e in log["events"] if e["type"] == "notification.sent"]
    assert sorted(d["event"] for d in sent) == ["started", "succeeded"]
    assert all(d["attempts"] >= 2 for d in sent)


def test_a_server_delivers_what_a_finished_run_still_owes(
    run_cli: RunCli, tmp_path: Path, state_dir: Path
) -> None:
    from tests.support.web import web_server

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    done = run_cli("deploy", str(book(tmp_path, url)), "--version", "v1", env={"HOOK_KEY": KEY})
    assert done.returncode == 0, done.stderr
    books = tmp_path / "books"
    books.mkdir()
    with (
        receiver(failing_first(0), port=port) as hook,
        web_server(state_dir, books, env={"HOOK_KEY": KEY}) as web,
    ):
        deadline = time.monotonic() + 30
        while len(hook.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        with web.client(web.token("alice")) as c:
            assert c.get("/api/v1/deliveries").json() == []
    assert sorted(r.json()["event"] for r in hook.requests) == ["started", "succeeded"]
