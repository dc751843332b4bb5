"""Another site cannot log a browser in or out, tokens cannot be guessed at speed, and
cookies are ``Secure`` when the server is reached over HTTPS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.web import WebServer, web_server

pytestmark = pytest.mark.xdist_group("web_login_guard")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("login-guard")
    (root / "books").mkdir()
    (root / "state").mkdir()
    with web_server(root / "state", root / "books") as server:
        yield server


def form(c: httpx.Client) -> str:
    page = c.get("/login").text
    found = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_a_login_posted_from_another_site_is_refused(web: WebServer) -> None:
    token = web.token("alice")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        with httpx.Client(base_url=web.url) as c:
            field = form(c)
            r = c.post("/login", data={"token": token, "login_csrf": field}, headers=headers)
            assert r.status_code == 403
            assert "runwright_session" not in r.headers.get("set-cookie", "")
    with httpx.Client(base_url=web.url) as c:  # no form token: a form made elsewhere
        r = c.post("/login", data={"token": token})
        assert r.status_code == 403


def test_a_login_from_the_servers_own_page_works(web: WebServer) -> None:
    with httpx.Client(base_url=web.url) as c:
        field = form(c)
        headers = {"Origin": web.url, "Sec-Fetch-Site": "same-origin"}
        r = c.post(
            "/login", data={"token": web.token("alice"), "login_csrf": field}, headers=headers
        )
        assert r.status_code == 303, r.text
        assert c.get("/api/v1/whoami").json()["name"] == "alice"


def test_a_login_link_opened_from_another_site_asks_first(web: WebServer) -> None:
    link = web.login_url("alice").removeprefix(web.url)
    with httpx.Client(base_url=web.url) as c:
        r = c.get(link, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 200
        assert "Continue and log in" in r.text
        assert c.get("/api/v1/whoami").status_code == 401


def test_logout_needs_the_sessions_token_and_this_site(web: WebServer) -> None:
    with httpx.Client(base_url=web.url) as c:
        assert c.get(web.login_url("alice").removeprefix(web.url)).status_code == 303
        page = c.get("/", headers={"Accept": "text/html"}).text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found
        r = c.post(
            "/logout", data={"csrf_token": found.group(1)}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert r.status_code == 403
        assert c.post("/logout", data={}).status_code == 403
        assert c.get("/api/v1/whoami").status_code == 200
        assert c.post("/logout", data={"csrf_token": found.group(1)}).status_code == 303
        assert c.get("/api/v1/whoami").status_code == 401


def test_failed_logins_are_throttled_per_address(web: WebServer) -> None:
    good = web.token("alice")
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=web.url, transport=other) as c:
        for _ in range(10):
            assert (
                c.post("/login", data={"token": "rw_a_wrong", "login_csrf": form(c)}).status_code
                == 401
            )
        r = c.post("/login", data={"token": good, "login_csrf": form(c)})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
    with httpx.Client(base_url=web.url) as c:  # another address is not held up
        assert c.post("/login", data={"token": good, "login_csrf": form(c)}).status_code == 303


@pytest.mark.slow
def test_cookies_are_secure_behind_an_https_url(tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "state").mkdir()
    args = ["--public-url", "https://deploy.example.com"]
    with web_server(tmp_path / "state", tmp_path / "books", args=args) as web:
        link = web.login_url("alice").removeprefix(web.url)
        with httpx.Client(base_url=web.url) as c:
            r = c.get(link)
            assert r.status_code == 303
            assert "secure" in r.headers["set-cookie"].lower()
            assert "secure" in c.get("/login").headers["set-cookie"].lower()
