"""A release holds an Alertmanager silence as a lease: extended while it runs, expired at its
end, and lapsing by itself within one lease when runwright is killed. Real Alertmanager."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ROOT, cli_command, cli_environ
from tests.support.alertmanager import RunningAlertmanager, running_alertmanager, silences

LEASE = 2.0


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[RunningAlertmanager]:
    with running_alertmanager() as am:
        yield am


def _runbook(tmp: Path, url: str, service: str) -> Path:
    path = tmp / "silenced.yaml"
    path.write_text(
        f"""
name: silenced
environments:
  production: {{}}
phases:
  - name: release
    steps:
      - silence:
          alertmanager: {url}
          matchers: ["service={service}", "severity=~warning|critical"]
          lease: {LEASE}s
          comment: expected restarts
      - name: roll out
        run: sleep 4
"""
    )
    return path


def _deploy(tmp: Path, state: Path, book: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli_command(), "deploy", str(book), "-e", "production", "--version", "v1"],
        env=cli_environ(state),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _wait_for(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _ours(url: str, service: str) -> list[dict[str, Any]]:
    return [
        s
        for s in silences(url)
        if any(m["name"] == "service" and m["value"] == service for m in s["matchers"])
    ]


def _ends(silence: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))


@pytest.mark.slow
def test_a_release_holds_extends_and_expires_its_silence(
    alertmanager: RunningAlertmanager, tmp_path: Path, state_dir: Path
) -> None:
    book = _runbook(tmp_path, alertmanager.url, "checkout")
    proc = _deploy(tmp_path, state_dir, book)
    try:

        def active() -> list[dict[str, Any]]:
            return [
                s for s in _ours(alertmanager.url, "checkout") if s["status"]["state"] == "active"
            ]

        first = _wait_for("an active silence", active, 20)[0]
        assert first["createdBy"] == "alice"
        assert first["comment"] == "runwright run 1: silenced v1 to production (expected restarts)"
        assert {
            "name": "severity",
            "value": "warning|critical",
            "isRegex": True,
            "isEqual": True,
        } in first["matchers"]
        later = _wait_for(
            "the silence extended",
            lambda: [s for s in active() if _ends(s) > _ends(first)],
            3 * LEASE,
        )
        assert later
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    states = {s["status"]["state"] for s in _ours(alertmanager.url, "checkout")}
    assert states == {"expired"}


@pytest.mark.slow
def test_a_killed_release_leaves_a_silence_that_lapses_within_its_lease(
    alertmanager: RunningAlertmanager, tmp_path: Path, state_dir: Path
) -> None:
    book = _runbook(tmp_path, alertmanager.url, "payments")
    proc = _deploy(tmp_path, state_dir, book)
    try:
        _wait_for(
            "an active silence",
            lambda: [
                s for s in _ours(alertmanager.url, "payments") if s["status"]["state"] == "active"
            ],
            20,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    killed_at = time.monotonic()

    def lapsed() -> bool:
        states = {s["status"]["state"] for s in _ours(alertmanager.url, "payments")}
        return states == {"expired"}

    _wait_for("the silence to lapse", lapsed, LEASE + 3)
    assert time.monotonic() - killed_at <= LEASE + 3
