"""Approvals as people give them: two others must say yes, the initiator cannot, and an
approval past its expiry no longer counts. Only the audit chain's decisions count: a row
inserted into the approvals table by hand is ignored (and the run is not driven until it is
explained), and a name merely declared (RUNWRIGHT_USER, LOGNAME, USER) counts only where the
environment allows self-declared identities.

The runbook's ``production`` needs ``{required: 2, not_by_initiator: true}``; ``hurried``
has the same policy with approvals valid for 8 seconds.
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import time
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli

BOOK = str(ROOT / "tests" / "fixtures" / "runbooks" / "approvals.yaml")
EXPIRES = 8.0


@pytest.mark.slow
def test_two_people_other_than_the_initiator_must_approve(run_cli: RunCli, tmp_path: Path) -> None:
    started = run_cli(
        "deploy", BOOK, "-e", "production", "--version", "v1", "--var", f"dir={tmp_path}"
    )
    assert started.returncode == 3
    assert "awaiting_approval" in started.stderr
    assert "runwright approve 1" in started.stderr
    assert not (tmp_path / "log").exists()

    own = run_cli("approve", "1", "--note", "looks fine to me")
    assert own.returncode == 2
    assert "alice started this run and cannot approve it" in own.stderr
    assert "Traceback" not in own.stderr

    bob = run_cli("approve", "1", "--note", "checked the diff", user="bob")
    assert bob.returncode == 0, bob.stderr
    assert "1 of 2" in bob.stdout
    again = run_cli("approve", "1", "--note", "twice", user="bob")
    assert again.returncode == 2
    assert "bob has already approved" in again.stderr

    half = run_cli("resume", "1")
    assert half.returncode == 3
    assert "1 of 2 so far" in half.stderr
    assert not (tmp_path / "log").exists()

    carol = run_cli("approve", "1", "--note", "on call agrees", user="carol")
    assert carol.returncode == 0, carol.stderr
    assert "2 of 2" in carol.stdout

    done = run_cli("resume", "1")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "log").read_text() == "shipped v1 to production\n"

    report = run_cli("report", "1").stdout
    assert "| approval for production | bob (self-declared) |" in report
    assert "| approval for production | carol (self-declared) |" in report
    assert "| Approved by | alice |" not in report
    events = json.loads(run_cli("logs", "1", "--json").stdout)["events"]
    refused = [e for e in events if e["type"] == "approval.refused"]
    assert [e["actor"] for e in refused] == ["alice", "bob"]


@pytest.mark.slow
def test_an_expired_approval_does_not_count(run_cli: RunCli, tmp_path: Path) -> None:
    started = run_cli(
        "deploy", BOOK, "-e", "hurried", "--version", "v1", "--var", f"dir={tmp_path}"
    )
    assert started.returncode == 3

    assert run_cli("approve", "1", "--note", "early", user="bob").returncode == 0
    approved_at = time.monotonic()
    time.sleep(max(0.0, approved_at + EXPIRES + 0.1 - time.monotonic()))

    blocked = run_cli("resume", "1")
    assert blocked.returncode == 3, "bob's approval expired: nothing counts any more"
    assert "0 of 2 so far" in blocked.stderr
    assert not (tmp_path / "log").exists()
    carol = run_cli("approve", "1", "--note", "late", user="carol")
    assert carol.returncode == 0, carol.stderr
    assert "1 of 2" in carol.stdout, "bob's approval expired; only carol's counts"

    renewed = run_cli("approve", "1", "--note", "still fine", user="bob")
    assert renewed.returncode == 0, renewed.stderr
    assert "2 of 2" in renewed.stdout


@pytest.mark.slow
def test_a_declared_name_cannot_impersonate_an_approver(run_cli: RunCli, tmp_path: Path) -> None:
    started = run_cli(
        "deploy", BOOK, "-e", "guarded", "--version", "v1", "--var", f"dir={tmp_path}"
    )
    assert started.returncode == 3, started.stderr
    me = pwd.getpwuid(os.geteuid()).pw_name
    forged = run_cli("approve", "1", "--note", "I am bob, honest", user="bob")
    assert forged.returncode == 2
    assert "approval refused" in forged.stderr
    assert f"differs from the OS user '{me}'" in forged.stderr
    own = run_cli("approve", "1", "--note", "under my real name", user=me)
    assert own.returncode == 2
    assert f"{me} started this run (as 'alice') and cannot approve it" in own.stderr
    assert run_cli("resume", "1").returncode == 3
    assert not (tmp_path / "log").exists()

    events = json.loads(run_cli("logs", "1", "--json").stdout)["events"]
    refused = [e for e in events if e["type"] == "approval.refused"]
    assert [(e["actor"], e["data"]["via"]) for e in refused] == [
        ("bob", "self_declared"),
        (me, "os"),
    ]


def test_approval_rows_inserted_by_hand_do_not_pass_the_gate(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    started = run_cli(
        "deploy", BOOK, "-e", "production", "--version", "v1", "--var", f"dir={tmp_path}"
    )
    assert started.returncode == 3
    conn = sqlite3.connect(state_dir / "runwright.db")
    with conn:
        for user in ("bob", "carol"):
            conn.execute(
                "INSERT INTO approvals (run_id, gate, kind, user, note, at) VALUES "
                "(1, 'approval for production', 'approval', ?, 'lgtm', "
                "strftime('%Y-%m-%d %H:%M:%f', 'now'))",
                (user,),
            )
    conn.close()

    refused = run_cli("resume", "1")
    assert refused.returncode == 2
    assert "run 1 is not driven: its audit trail does not verify: approval row ignored: bob" in (
        refused.stderr
    )
    assert not (tmp_path / "log").exists()
    report = run_cli("report", "1").stdout
    assert "| approval for production | bob" not in report

    audit = run_cli("audit", "verify", "1")
    assert audit.returncode == 1
    assert "approval row ignored: bob for 'approval for production'" in audit.stdout
    assert "approval row ignored: carol" in audit.stdout


def test_a_name_from_logname_or_user_is_self_declared(run_cli: RunCli, tmp_path: Path) -> None:
    """The OS user comes from the kernel: LOGNAME/USER naming someone else is only declared,
    so it is refused where decisions need a genuine identity and cannot approve one's own run."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    as_me = {"RUNWRIGHT_USER": "", "LOGNAME": me, "USER": me}
    started = run_cli(
        "deploy", BOOK, "-e", "guarded", "--version", "v1", "--var", f"dir={tmp_path}", env=as_me
    )
    assert started.returncode == 3, started.stderr
    other = {"RUNWRIGHT_USER": "", "LOGNAME": "other", "USER": "other"}
    forged = run_cli("approve", "1", "--note", "someone else, honest", env=other)
    assert forged.returncode == 2
    assert f"'other' is only declared (RUNWRIGHT_USER, LOGNAME or USER) and differs from the " \
        f"OS user '{me}'" in forged.stderr  # fmt: skip
    assert run_cli("resume", "1", env=as_me).returncode == 3
    assert not (tmp_path / "log").exists()
    events = json.loads(run_cli("logs", "1", "--json", env=as_me).stdout)["events"]
    refused = [e for e in events if e["type"] == "approval.refused"]
    assert [(e["actor"], e["data"]["via"]) for e in refused] == [("other", "self_declared")]
    assert not [e for e in events if e["type"] == "approval.given"]
