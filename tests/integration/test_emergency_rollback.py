"""``runwright rollback --wait`` as an on-call engineer runs it: with the default rules it
needs nobody (no approval, no checklist) and ends 0 with the previous version live; when the
environment's ``rollback:`` rules ask for an approval, ``--wait`` sits it out until a second
person approves from another terminal, then finishes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import RunCli, cli_command, cli_environ

pytestmark = pytest.mark.slow

BOOK = """\
name: shop
environments:
  production:
    identity: self_declared
    rollback: {rules}
phases:
  - name: release
    steps:
      - name: checklist
        gate: [release notes written]
      - name: ship
        run: echo {{{{ version }}}} > {live}
"""


def _deploy(run_cli: RunCli, book: Path, version: str) -> None:
    started = run_cli("deploy", str(book), "-e", "production", "--version", version, "--json")
    assert started.returncode == 3, started.stderr
    run_id = str(json.loads(started.stdout)["id"])
    assert run_cli("attest", run_id, "--all", "--note", "written").returncode == 0
    assert run_cli("resume", run_id).returncode == 0


def _setup(tmp_path: Path, run_cli: RunCli, rules: str) -> Path:
    book = tmp_path / "shop.yaml"
    live = tmp_path / "live"
    book.write_text(BOOK.format(rules=rules, live=live))
    for version in ("v1", "v2"):
        _deploy(run_cli, book, version)
    assert live.read_text() == "v2\n"
    return live


def test_rollback_wait_with_the_default_rules_needs_nobody(tmp_path: Path, run_cli: RunCli) -> None:
    live = _setup(tmp_path, run_cli, "{}")
    back = run_cli("rollback", "-e", "production", "--wait", "--json", timeout=60)
    assert back.returncode == 0, back.stdout + back.stderr
    assert live.read_text() == "v1\n"
    assert json.loads(back.stdout)["status"] == "succeeded"


def test_rollback_wait_sits_out_the_approval_its_rules_ask_for(
    tmp_path: Path, run_cli: RunCli, state_dir: Path
) -> None:
    live = _setup(tmp_path, run_cli, "{approvals: 1}")
    waiting = subprocess.Popen(
        [*cli_command(), "rollback", "-e", "production", "--wait", "--quiet"],
        env=cli_environ(state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = _awaiting_approval(run_cli)
        assert live.read_text() == "v2\n"
        approved = run_cli("approve", run_id, "--note", "roll it back", user="bob")
        assert approved.returncode == 0, approved.stderr
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, out + err
    assert live.read_text() == "v1\n"


def _awaiting_approval(run_cli: RunCli) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = json.loads(run_cli("history", "--json").stdout)
        found = [r for r in runs if r["status"] == "awaiting_approval"]
        if found:
            return str(found[0]["id"])
        time.sleep(0.2)
    raise AssertionError("the rollback never came to wait for its approval")
