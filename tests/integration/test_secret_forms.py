"""A secret leaks in no form: raw, JSON-escaped, URL-encoded (upper- or lowercase ``%xx``),
base64 (alone or as the password of HTTP basic auth for any user name), hex (plain or
colon-separated), a Python bytes repr, HTML-escaped, or split across two lines, anywhere a
person, a file or another system sees it.

The secret holds a quote, a backslash, a slash, a plus, a colon and a space, so each
encoding differs from the raw value. Steps print it every way a program would; an HTTP
server on 127.0.0.1 sends it back JSON-escaped, with a basic-auth header, and the run
captures the whole body; a webhook sink receives the run's notifications. Then every output
is searched for every form: the terminal of the deploy, the SQLite database file (and its
WAL), ``logs``, ``logs --json``, ``status --json``, the report in Markdown and HTML, the
exported audit bundle, the web server's pages and API, and the notification payloads.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from tests.conftest import RunCli, cli_environ
from tests.support.receivers import Receiver, failing_first, receiver
from tests.support.web import web_server

from runwright.cli.main import cli

SECRET = 'Zq8"rW\\1pL/s3+cr:3t tok'
SPLIT = 11  # where a wrapped line cuts the secret: both halves are 8 characters or more
USERS = ["", "a", "ab", "bob", "deploy-bot"]


def _lower(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    found = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url-path": urllib.parse.quote(secret),
        "form": urllib.parse.quote_plus(secret),
        "url-lower": _lower(urllib.parse.quote(secret, safe="")),
        "url-path-lower": _lower(urllib.parse.quote(secret)),
        "form-lower": _lower(urllib.parse.quote_plus(secret)),
        "base64": base64.b64encode(raw).decode(),
        "base64-url": base64.urlsafe_b64encode(raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "hex-colons": raw.hex(":"),
        "HEX-colons": raw.hex(":").upper(),
        "bytes-repr": repr(raw)[2:-1],
        "html": html.escape(secret),
        "html-noquote": html.escape(secret, quote=False),
        "split-head": secret[:SPLIT],
        "split-tail": secret[SPLIT:],
    }
    for user in USERS:
        found[f"basic {user!r}"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return found


FORMS = forms(SECRET)

BOOK = """
name: leaky
secrets:
  TOKEN: {{env: API_TOKEN}}
sinks:
  hook:
    webhook: {{url: "{hook}/events", backoff: 0.05}}
notify:
  - to: hook
    template: "run {{{{ run.id }}}}: {{{{ reason }}}} (token {{{{ secrets.TOKEN }}}})"
phases:
  - name: all
    steps:
      - name: encodings
        run: |
          echo raw {{{{ secrets.TOKEN }}}}
          python3 - <<'PY'
          import base64, json, os, urllib.parse
          s = os.environ["API_TOKEN"]
          print("json", json.dumps({{"token": s}}))
          q = urllib.parse
          print("url", q.quote(s, safe=""), q.quote(s), q.quote_plus(s))
          b = s.encode()
          print("b64", base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode())
          for user in {users!r}:
              print("basic", base64.b64encode((user + ":" + s).encode()).decode())
          print("hex", s.encode().hex(), s.encode().hex().upper())
          import re
          low = lambda t: re.sub("%[0-9A-F]{{2}}", lambda m: m.group(0).lower(), t)
          print("lower", low(q.quote(s, safe="")), low(q.quote_plus(s)))
          print("colons", s.encode().hex(":"), s.encode().hex(":").upper())
          print("bytes", s.encode(), repr(s.encode()))
          import html
          print("html", html.escape(s), html.escape(s, quote=False))
          print("wrapped", s[:{split}])
          print(s[{split}:], "(continued)")
          PY
      - name: call the api
        http:
          url: http://127.0.0.1:{port}/token
          headers: {{Authorization: "Bearer {{{{ secrets.TOKEN }}}}"}}
          capture: {{body: body, tok: $.token, auth: "header:X-Basic"}}
      - name: use the capture
        run: echo captured {{{{ captured.tok }}}} and {{{{ captured.auth }}}}
      - name: fail with it
        run: |
          python3 -c 'import json, os; print("bad", json.dumps(os.environ["API_TOKEN"]))' >&2
          exit 3
"""


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"token": SECRET, "echo": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Basic", FORMS["basic 'deploy-bot'"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def api() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def assert_clean(where: str, text: str) -> None:
    leaked = {name: text[max(0, text.index(form) - 60) : text.index(form) + 60]
              for name, form in FORMS.items() if form in text}  # fmt: skip
    assert not leaked, f"{where} shows the secret as {leaked}"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver(failing_first(0)) as rec:
        yield rec


@pytest.mark.slow
def test_no_form_of_the_secret_appears_in_any_output(
    api: int, hook: Receiver, tmp_path: Path, state_dir: Path, run_cli: RunCli
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    book = books / "leaky.yaml"
    book.write_text(BOOK.format(port=api, users=USERS, hook=hook.url, split=SPLIT))
    env = {"API_TOKEN": SECRET}
    deploy = run_cli("deploy", str(book), "--version", "v1", env=env)
    assert deploy.returncode == 1, deploy.stderr
    terminal = deploy.stdout + deploy.stderr
    assert_clean("the terminal", terminal)
    for marker in (
        "raw ***",
        'json {"token": "***"}',
        "captured *** and ZGVwbG95LWJvdDp***",
        'bad "***"',
        "lower *** ***",
        "colons *** ***",
        "bytes b'***' b'***'",
        "html *** ***",
        "wrapped ***",
        "*** (continued)",
    ):
        assert marker in terminal, terminal  # the steps printed: the mask shows
    payloads = [body.decode() for body in hook.bodies()]
    assert any("(token ***)" in p for p in payloads), payloads
    for n, payload in enumerate(payloads):
        assert_clean(f"notification payload {n}", payload)
    bundle = tmp_path / "bundle.json"
    assert run_cli("audit", "export", "1", "-o", str(bundle), env=env).returncode == 0
    assert_clean("the audit bundle", bundle.read_text())
    with web_server(state_dir, books, env=env) as web:
        with web.client(web.token("alice")) as api_client:
            for path in ("/api/v1/runs/1", "/api/v1/runs/1/events", "/api/v1/runs/1/output",
                         "/api/v1/runs/1/report"):  # fmt: skip
                got = api_client.get(path)
                assert got.status_code == 200, (path, got.text)
                assert_clean(f"the API's {path}", got.text)
        with httpx.Client(base_url=web.url, follow_redirects=True, timeout=30) as browser:
            assert browser.get(web.login_url("alice").removeprefix(web.url)).status_code == 200
            for path in ("/runs/1", "/runs/1/live"):
                page = browser.get(path)
                assert page.status_code == 200, (path, page.text[:500])
                assert "fail with it" in page.text
                assert_clean(f"the web page {path}", page.text)
    reader = CliRunner()  # the read commands in-process: the same output, no start-up each
    outputs = {
        " ".join(args): reader.invoke(cli, list(args), env=cli_environ(state_dir, **env))
        for args in (
            ("logs", "1"),
            ("logs", "1", "--json"),
            ("status", "1", "--json"),
            ("report", "1"),
            ("report", "1", "--format", "html"),
        )
    }
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output)
        assert_clean(name, result.output)
    assert "basic YWI6***" in outputs["logs 1"].output
    conn = sqlite3.connect(state_dir / "runwright.db")
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert_clean("the database", dump)
    for path in (p for p in state_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        leaked = [n for n, form in FORMS.items() if form.encode() in data]
        assert not leaked, f"{path} holds the secret as {leaked}"
