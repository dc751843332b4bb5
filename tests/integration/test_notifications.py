"""Notifications reach real receivers with the payloads people and tools expect, once each.

Slack's Web API, a signed webhook, an SMTP server with STARTTLS (aiosmtpd) and status pages
are local servers on 127.0.0.1 started by the tests; runwright runs as the real CLI.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import RunCli
from tests.support.receivers import (
    Receiver,
    failing_first,
    receiver,
    signed_by,
    slack_api,
    status_pages,
)

HOOK_KEY = "hook-key-Zq81"
SLACK_TOKEN = "xoxb-test-token-81"
PLANTED = 'pl4nted"se\\cret'
PLANTED_FORMS = [
    PLANTED,
    json.dumps(PLANTED)[1:-1],
    base64.b64encode(PLANTED.encode()).decode().rstrip("="),
    PLANTED.encode().hex(),
]


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "smtp.crt", tmp / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(tmp_path: Path, free_port: Any) -> Iterator[tuple[_Inbox, int, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield inbox, port, cert
    finally:
        controller.stop()


def _runbook(
    tmp: Path, hook: Receiver, slack: Receiver, smtp_port: int, ca: Path, *, fail: bool = False
) -> Path:
    step = "exit 3" if fail else "echo deploying {{ version }}"
    text = f"""
name: notify-demo
vars:
  hook: {hook.url}
  slack: {slack.url}
secrets:
  HOOK_KEY: {{env: HOOK_KEY}}
  SLACK_TOKEN: {{env: SLACK_TOKEN}}
  PLANTED: {{env: PLANTED}}
environments:
  production: {{}}
sinks:
  hook:
    webhook: {{url: "{{{{ hook }}}}/events", secret: "{{{{ secrets.HOOK_KEY }}}}", backoff: 0.05}}
  chat:
    slack:
      token: "{{{{ secrets.SLACK_TOKEN }}}}"
      channel: "#deploys"
      api_url: "{{{{ slack }}}}/api"
      run_url: "http://127.0.0.1:8400/runs/{{{{ run_id }}}}"
  mail:
    email: {{host: 127.0.0.1, port: {smtp_port}, from: rw@example.test, to: [ops@example.test],
             ca_file: "{ca}"}}
notify:
  - to: hook
  - to: chat
  - to: mail
    events: [succeeded, rolled_back]
    template: "{{{{ runbook }}}} {{{{ version }}}} {{{{ event }}}}; token {{{{ secrets.PLANTED }}}}"
phases:
  - name: release
    steps:
      - name: publish
        run: echo "publishing with $PLANTED"
      - name: finish
        run: {step}
"""
    path = tmp / "notify.yaml"
    path.write_text(text)
    return path


ENV = {"HOOK_KEY": HOOK_KEY, "SLACK_TOKEN": SLACK_TOKEN, "PLANTED": PLANTED}


def _events_of(hook: Receiver) -> list[str]:
    return [json.loads(b)["event"] for b in hook.bodies()]


@pytest.mark.slow
def test_a_run_reaches_slack_a_signed_webhook_and_email_once_each(
    run_cli: RunCli, tmp_path: Path, smtp: tuple[_Inbox, int, Path]
) -> None:
    inbox, port, ca = smtp
    with receiver(failing_first(2)) as hook, receiver(slack_api()) as slack:
        book = _runbook(tmp_path, hook, slack, port, ca)
        result = run_cli("deploy", str(book), "-e", "production", "--version", "v1", env=ENV)
        assert result.returncode == 0, result.stderr

        # The first two requests are refused; each refused message is tried again with
        # backoff while later messages go on (a failing delivery holds nobody up), so the
        # order of the retries and the next message depends on timing; each message still
        # arrives exactly once, under the idempotency key it was first sent with.
        refused, accepted = hook.requests[:2], hook.requests[2:]
        assert refused[0].json()["event"] == "started"
        assert sorted(r.json()["event"] for r in accepted) == ["started", "succeeded"]
        for req in hook.requests:
            assert signed_by(HOOK_KEY, req)
            assert not signed_by(HOOK_KEY, req, max_age=-1.0)  # a stale one is refused
        key_of = {r.json()["event"]: r.headers["Idempotency-Key"] for r in accepted}
        assert key_of["started"] != key_of["succeeded"]
        for req in refused:
            assert req.headers["Idempotency-Key"] == key_of[req.json()["event"]]

        calls = [(r.path.rsplit("/", 1)[-1], r.json()) for r in slack.requests]
        top = [
            body
            for method, body in calls
            if method == "chat.postMessage" and "thread_ts" not in body
        ]
        updates = [body for method, body in calls if method == "chat.update"]
        thread = [body for method, body in calls if "thread_ts" in body]
        assert len(top) == 1, calls
        assert len(updates) == 1
        assert updates[0]["ts"] == thread[0]["thread_ts"]
        assert all(r.headers["Authorization"] == f"Bearer {SLACK_TOKEN}" for r in slack.requests)
        blocks = updates[0]["blocks"]
        assert blocks[0]["type"] == "header"
        assert "succeeded" in blocks[0]["text"]["text"]
        assert {"type": "mrkdwn", "text": "*Version*\nv1"} in blocks[2]["fields"]
        assert blocks[3]["elements"][0]["url"] == "http://127.0.0.1:8400/runs/1"

    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["Subject"] == "[runwright] notify-demo v1 to production: succeeded"
    kinds = [part.get_content_type() for part in mail.walk()]
    assert "text/plain" in kinds
    assert "text/html" in kinds
    assert (
        "notify-demo v1 succeeded; token ***"
        in mail.get_payload(0).get_payload(decode=True).decode()
    )

    payloads = [*hook.bodies(), *(r.body for r in slack.requests), *inbox.raw]
    for form in PLANTED_FORMS:
        assert not any(form.encode() in body for body in payloads), form

    log = json.loads(run_cli("logs", "1", "--json").stdout)
    journal = [e for e in log["events"] if e["type"].startswith("notification.")]
    sent = sorted((e["data"]["sink"], e["data"]["event"]) for e in journal
                  if e["type"] == "notification.sent")  # fmt: skip
    assert sent == [
        ("chat", "started"),
        ("chat", "succeeded"),
        ("hook", "started"),
        ("hook", "succeeded"),
        ("mail", "succeeded"),
    ]
    failed = [e["data"] for e in journal if e["type"] == "notification.failed"]
    assert [d["sink"] for d in failed] == ["hook", "hook"]
    assert failed[0]["event"] == "started"
    retried = [e["data"] for e in journal if e["data"]["sink"] == "hook"]
    for event in ("started", "succeeded"):  # each try counted, the last one delivered
        attempts = [d["attempts"] for d in retried if d["event"] == event]
        assert attempts == list(range(1, len(attempts) + 1)), (event, attempts)
    assert sum(len([d for d in retried if d["event"] == e]) for e in ("started", "succeeded")) == 4
    assert "retry_at" in retried[0]


@pytest.mark.slow
def test_a_kill_before_a_notification_leaves_it_to_resume_which_sends_it_once(
    run_cli: RunCli, tmp_path: Path, smtp: tuple[_Inbox, int, Path]
) -> None:
    _inbox, port, ca = smtp
    with receiver(failing_first(0)) as hook, receiver(slack_api()) as slack:
        book = _runbook(tmp_path, hook, slack, port, ca)
        killed = run_cli(
            "deploy",
            str(book),
            "-e",
            "production",
            "--version",
            "v1",
            env={**ENV, "RUNWRIGHT_CRASH_AT": "notify:succeeded"},
        )
        assert killed.returncode != 0
        assert _events_of(hook) == ["started"]

        resumed = run_cli("resume", "1", env=ENV)
        assert resumed.returncode == 0, resumed.stderr
        assert _events_of(hook) == ["started", "succeeded"]
        again = run_cli("resume", "1", env=ENV)
        assert again.returncode == 2
        assert _events_of(hook) == ["started", "succeeded"]


@pytest.mark.slow
def test_a_failing_sink_never_fails_the_run_unless_required(
    run_cli: RunCli, tmp_path: Path, smtp: tuple[_Inbox, int, Path]
) -> None:
    _inbox, port, ca = smtp
    with receiver(failing_first(1000)) as hook, receiver(slack_api()) as slack:
        book = _runbook(tmp_path, hook, slack, port, ca)
        ok = run_cli("deploy", str(book), "-e", "production", "--version", "v1", env=ENV)
        assert ok.returncode == 0, ok.stderr
        log = json.loads(run_cli("logs", "1", "--json").stdout)
        failed = [e for e in log["events"] if e["type"] == "notification.failed"]
        assert {e["data"]["event"] for e in failed} == {"started", "succeeded"}
        assert "HTTP 500" in failed[0]["data"]["error"]

        text = book.read_text().replace("  - to: hook\n", "  - to: hook\n    required: true\n")
        book.write_text(text.replace("run: echo deploying {{ version }}", "run: sleep 30"))
        second = run_cli("deploy", str(book), "-e", "production", "--version", "v2", env=ENV)
        assert second.returncode == 1
        status = json.loads(run_cli("status", "2", "--json").stdout)
        assert status["status"] == "aborted"
        assert "required notification to 'hook' failed" in second.stderr


@pytest.mark.slow
def test_status_pages_open_an_incident_on_rollback_and_resolve_it_on_the_next_good_release(
    run_cli: RunCli, tmp_path: Path
) -> None:
    with receiver(status_pages()) as pages:
        text = f"""
name: paged
environments:
  production: {{}}
sinks:
  atlassian:
    status_page: {{kind: statuspage, url: "{pages.url}", token: sp-token, page_id: P1,
                  component_id: C1}}
  cachet: {{status_page: {{kind: cachet, url: "{pages.url}", token: ca-token, component_id: "7"}}}}
notify:
  - to: atlassian
  - to: cachet
phases:
  - name: release
    steps:
      - run: test {{{{ version }}}} != bad
"""
        book = tmp_path / "paged.yaml"
        book.write_text(text)
        bad = run_cli("deploy", str(book), "-e", "production", "--version", "bad")
        assert bad.returncode == 1
        good = run_cli("deploy", str(book), "-e", "production", "--version", "good")
        assert good.returncode == 0, good.stderr

    calls = [(r.method, r.path, r.headers, r.json()) for r in pages.requests]
    assert [(m, p) for m, p, _h, _b in calls] == [
        ("POST", "/v1/pages/P1/incidents"),
        ("POST", "/api/v1/incidents"),
        ("PATCH", "/v1/pages/P1/incidents/inc1"),
        ("PUT", "/api/v1/incidents/2"),
    ]
    assert calls[0][2]["Authorization"] == "OAuth sp-token"
    assert calls[0][3]["incident"]["components"] == {"C1": "degraded_performance"}
    assert calls[1][2]["X-Cachet-Token"] == "ca-token"
    assert calls[1][3]["component_id"] == 7
    assert calls[1][3]["status"] == 1
    assert calls[2][3]["incident"]["status"] == "resolved"
    assert calls[3][3]["status"] == 4


def test_a_notify_step_posts_its_message_and_unknown_sinks_are_refused_at_load(
    run_cli: RunCli, tmp_path: Path
) -> None:
    with receiver(failing_first(0)) as hook:
        book = tmp_path / "status.yaml"
        book.write_text(
            f"""
name: status-update
secrets:
  PLANTED: {{env: PLANTED}}
sinks:
  hook: {{webhook: {{url: "{hook.url}/status"}}}}
phases:
  - name: tell
    steps:
      - notify:
          to: [hook]
          title: Status update
          text: "{{{{ version }}}} is rolling out (key {{{{ secrets.PLANTED }}}})"
"""
        )
        done = run_cli("deploy", str(book), "--version", "v7", env=ENV)
        assert done.returncode == 0, done.stderr
        [message] = [r.json() for r in hook.requests]
        assert message["event"] == "message"
        assert message["title"] == "Status update"
        assert message["text"] == "v7 is rolling out (key ***)"

        book.write_text(book.read_text().replace("to: [hook]", "to: [hooks]"))
        refused = run_cli("validate", str(book))
        assert refused.returncode == 2
        assert f"{book}:11:16: unknown sink 'hooks'" in refused.stderr
        assert "did you mean 'hook'?" in refused.stderr
