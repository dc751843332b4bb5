"""The web edge's defences, over HTTP against a real server: CSRF on every form, a strict
Content-Security-Policy, HttpOnly SameSite session cookies, escaped runbook text, and no
anonymous access unless ``--read-only-public`` (which allows reading only).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.web import WebServer, web_server

# Under xdist one worker runs the whole module: its server is started once per module.
pytestmark = pytest.mark.xdist_group("web_security")

SECRET = "planted-s3cret-7f1e"
BOOK = """\
name: hostile
secrets:
  API_TOKEN: {env: SHOP_TOKEN}
environments:
  local: {}
phases:
  - name: "<script>alert(1)</script>"
    steps:
      - name: "<script>alert(1)</script>"
        run: echo '<img src=x onerror=alert(2)>'
      - name: uses the token
        run: echo "token is "{{ secrets.API_TOKEN }}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("web-security")
    (root / "books").mkdir()
    (root / "state").mkdir()
    (root / "books" / "hostile.yaml").write_text(BOOK)
    with web_server(root / "state", root / "books", env={"SHOP_TOKEN": SECRET}) as web:
        yield web


@pytest.fixture
def browser(server: WebServer) -> Iterator[httpx.Client]:
    """A cookie-keeping client logged in as alice, like a browser after the login link."""
    with httpx.Client(base_url=server.url, headers={"accept": "text/html"}) as c:
        landed = c.get(server.login_url("alice").removeprefix(server.url))
        assert landed.status_code == 303
        yield c


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def test_session_cookie_is_httponly_and_samesite(server: WebServer) -> None:
    link = server.login_url("alice").removeprefix(server.url)
    with httpx.Client(base_url=server.url) as c:
        cookie = c.get(link).headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "runwright_session=" in cookie


def test_every_response_carries_a_strict_csp(server: WebServer, browser: httpx.Client) -> None:
    for path in ("/", "/runs", "/login", "/api/v1/runs", "/static/live.js"):
        policy = browser.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
    page = browser.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script on the page"
    assert " style=" not in page
    assert "https://" not in page


def test_a_form_post_without_the_csrf_token_is_refused(
    server: WebServer, browser: httpx.Client
) -> None:
    form = {"runbook": "hostile", "env": "local", "version": "v1"}
    missing = browser.post("/runs", data=form)
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    wrong = browser.post("/runs", data={**form, "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    hostile = browser.post("/runs", data={**form, "csrf_token": "\u00e9" * 64})
    assert hostile.status_code == 403
    assert "CSRF" in hostile.text
    api = browser.post("/api/v1/runs", json={"runbook": "hostile", "version": "v1"})
    assert api.status_code == 403
    header = {"x-csrf-token": "\u00e9t\u00e9".encode()}
    api = browser.post("/api/v1/runs", json={"runbook": "hostile", "version": "v1"}, headers=header)
    assert api.status_code == 403
    with server.client(server.token("alice")) as c:
        assert c.get("/api/v1/runs").json()["total"] == 0
    token = csrf_of(browser.get("/").text)
    done = browser.post("/runs", data={**form, "csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/runs/1")


def test_runbook_text_renders_as_text(server: WebServer, browser: httpx.Client) -> None:
    with server.client(server.token("alice")) as c:
        run = c.post("/api/v1/runs", json={"runbook": "hostile", "version": "v2"}).json()["run"]
        for _ in range(200):
            if c.get(f"/api/v1/runs/{run}").json()["status"] == "succeeded":
                break
    page = browser.get(f"/runs/{run}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "token is ***" in page


def test_a_planted_secret_appears_on_no_page_or_answer(
    server: WebServer, browser: httpx.Client
) -> None:
    with server.client(server.token("alice")) as c:
        run = c.post("/api/v1/runs", json={"runbook": "hostile", "version": "v3"}).json()["run"]
        for _ in range(200):
            if c.get(f"/api/v1/runs/{run}").json()["status"] == "succeeded":
                break
        answers = [
            c.get(path).text
            for path in (
                f"/api/v1/runs/{run}",
                f"/api/v1/runs/{run}/events",
                f"/api/v1/runs/{run}/output",
                f"/api/v1/runs/{run}/report",
                f"/api/v1/runs/{run}/report?format=html",
                "/api/v1/runbooks/hostile/plan?version=v3",
            )
        ]
    pages = [
        browser.get(path).text
        for path in (f"/runs/{run}", f"/runs/{run}/audit", "/plan?runbook=hostile&version=v3")
    ]
    assert "token is ***" in answers[2]
    for text in answers + pages:
        assert SECRET not in text


def test_read_only_public_lets_anyone_read_and_nobody_act(
    server: WebServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with web_server(state, server.runbooks, args=["--read-only-public"]) as public:
        assert httpx.get(public.url + "/api/v1/runs").status_code == 200
        assert httpx.get(public.url + "/", headers={"accept": "text/html"}).status_code == 200
        acted = httpx.post(public.url + "/api/v1/runs", json={"runbook": "hostile", "version": "x"})
        assert acted.status_code == 403
    assert httpx.get(server.url + "/api/v1/runs").status_code == 401
