"""A secret leaks in no form: raw, JSON-escaped, URL-encoded, base64 (alone or as the
password of HTTP basic auth for any user name) or hex, anywhere a person or a file sees it.

The secret holds a quote, a backslash, a slash, a plus, a colon and a space, so each
encoding differs from the raw value. Steps print it every way a program would; an HTTP
server on 127.0.0.1 sends it back JSON-escaped, with a basic-auth header, and the run
captures the whole body. Then every output is searched for every form: the terminal of the
deploy, the SQLite database file (and its WAL), ``logs``, ``logs --json``, ``status --json``
and the report in Markdown and HTML.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import RunCli, cli_environ

from runwright.cli.main import cli

SECRET = 'Zq8"rW\\1pL/s3+cr:3t tok'
USERS = ["", "a", "ab", "bob", "deploy-bot"]


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    found = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url-path": urllib.parse.quote(secret),
        "form": urllib.parse.quote_plus(secret),
        "base64": base64.b64encode(raw).decode(),
        "base64-url": base64.urlsafe_b64encode(raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for user in USERS:
        found[f"basic {user!r}"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return found


FORMS = forms(SECRET)

BOOK = """
name: leaky
secrets:
  TOKEN: {{env: API_TOKEN}}
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
    leaked = [name for name, form in FORMS.items() if form in text]
    assert not leaked, f"{where} shows the secret as {leaked}"


@pytest.mark.slow
def test_no_form_of_the_secret_appears_in_any_output(
    api: int, tmp_path: Path, state_dir: Path, run_cli: RunCli
) -> None:
    book = tmp_path / "leaky.yaml"
    book.write_text(BOOK.format(port=api, users=USERS))
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
    ):
        assert marker in terminal, terminal[-1500:]  # the steps printed: the mask shows
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
