"""OIDC login (authorization code + PKCE) against an identity provider made here: its own
RSA key, a discovery document, a JWKS endpoint, an authorize endpoint that answers at once
and a token endpoint that checks the PKCE verifier. A valid ID token of a linked (issuer,
subject) logs in; a wrong audience, an expired token and one signed by another key do not,
and neither does a subject nobody linked, whatever name it claims. A login begun on one
server cannot be finished on another in the same process, nor once its time (on the server's
clock, a FakeClock here) has passed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.postgres import free_port
from tests.support.web import WebServer, web_server

from runwright.app.people import users
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import FakeClock
from runwright.web.config import OidcConfig, WebConfig
from runwright.web.oidc_flows import PENDING_TTL
from runwright.web.server import create_app

# Under xdist one worker runs the whole module: its issuer and server are started once per module.
pytestmark = pytest.mark.xdist_group("web_oidc")

CLIENT = "runwright-dashboard"


class Issuer:
    """A tiny OpenID provider; ``mode`` says what kind of ID token the next login gets."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.mode = "valid"
        self.user = "dana"
        self.subject = "user-123"
        self.codes: dict[str, dict[str, str]] = {}
        self.verified_pkce = 0
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": self.subject,
            "aud": CLIENT,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "preferred_username": self.user,
        }
        key = self.key
        if self.mode == "wrong-audience":
            claims["aud"] = "someone-else"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "bad-signature":
            key = self.other
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _json(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": issuer.url,
                            "authorization_endpoint": issuer.url + "/authorize",
                            "token_endpoint": issuer.url + "/token",
                            "jwks_uri": issuer.url + "/jwks",
                        }
                    )
                elif url.path == "/jwks":
                    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key(), as_dict=True)
                    self._json({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
                elif url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    assert q["code_challenge_method"] == "S256"
                    assert q["client_id"] == CLIENT
                    code = f"code-{len(issuer.codes)}"
                    issuer.codes[code] = q
                    back = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                    self.send_response(302)
                    self.send_header("location", back)
                    self.end_headers()
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                asked = issuer.codes.pop(form.get("code", ""), None)
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if asked is None or asked["code_challenge"] != challenge:
                    self.send_error(400, "invalid_grant")
                    return
                issuer.verified_pkce += 1
                self._json({"id_token": issuer.id_token(asked["nonce"]), "token_type": "Bearer"})

        return Handler


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    thread = threading.Thread(target=idp.http.serve_forever, daemon=True)
    thread.start()
    yield idp
    idp.http.shutdown()
    idp.http.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("web-oidc")
    (root / "books").mkdir()
    (root / "state").mkdir()
    args = ["--oidc-issuer", issuer.url, "--oidc-client-id", CLIENT]
    with web_server(root / "state", root / "books", args=args) as web:
        web.add_user("dana", "viewer")
        web.cli("users", "link-oidc", "dana", "--issuer", issuer.url, "--subject", "user-123")
        yield web


def oidc_login(server: WebServer) -> tuple[httpx.Response, httpx.Client]:
    c = httpx.Client(base_url=server.url)
    start = c.get("/login/oidc")
    assert start.status_code == 303
    at_idp = httpx.get(start.headers["location"])
    assert at_idp.status_code == 302
    back = at_idp.headers["location"]
    assert back.startswith(server.url + "/login/oidc/callback?")
    return c.get(back.removeprefix(server.url)), c


def test_a_valid_id_token_logs_in(server: WebServer, issuer: Issuer) -> None:
    issuer.mode = "valid"
    done, c = oidc_login(server)
    try:
        assert done.status_code == 303, done.text
        assert "httponly" in done.headers["set-cookie"].lower()
        who = c.get("/api/v1/whoami").json()
        assert who["name"] == "dana"
        assert who["via"] == "session"
    finally:
        c.close()
    assert issuer.verified_pkce >= 1


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("wrong-audience", "Audience doesn't match"),
        ("expired", "Signature has expired"),
        ("bad-signature", "Signature verification failed"),
    ],
)
def test_a_flawed_id_token_does_not(server: WebServer, issuer: Issuer, mode: str, why: str) -> None:
    issuer.mode = mode
    done, c = oidc_login(server)
    try:
        assert done.status_code == 401
        assert why in done.json()["error"]
        assert "runwright_session" not in done.headers.get("set-cookie", "")
        assert c.get("/api/v1/whoami").status_code == 401
    finally:
        c.close()


def test_a_stranger_with_a_valid_token_is_not_a_user(server: WebServer, issuer: Issuer) -> None:
    issuer.mode, issuer.user, issuer.subject = "valid", "mallory", "mallory-1"
    try:
        done, c = oidc_login(server)
        c.close()
    finally:
        issuer.user, issuer.subject = "dana", "user-123"
    assert done.status_code == 403
    assert "'user-123' at" not in done.json()["error"]
    assert "is not linked to a runwright user" in done.json()["error"]


def test_an_unlinked_subject_cannot_pass_for_an_admin(server: WebServer, issuer: Issuer) -> None:
    issuer.mode, issuer.user, issuer.subject = "valid", "alice", "attacker-9"
    try:
        done, c = oidc_login(server)
        with contextlib.closing(c):
            assert done.status_code == 403
            assert "runwright users link-oidc" in done.json()["hint"]
            assert "runwright_session" not in done.headers.get("set-cookie", "")
            assert c.get("/api/v1/whoami").status_code == 401
            assert (
                c.post("/api/v1/users/dana/oidc", json={"issuer": "x", "subject": "y"}).status_code
                == 401
            )
    finally:
        issuer.user, issuer.subject = "dana", "user-123"


def test_an_admin_links_a_subject_through_the_api(server: WebServer, issuer: Issuer) -> None:
    body = {"issuer": issuer.url, "subject": "dana-laptop"}
    with server.client(server.token("dana")) as viewer:
        assert viewer.post("/api/v1/users/dana/oidc", json=body).status_code == 403
    with server.client(server.token("alice")) as admin:
        assert admin.post("/api/v1/users/dana/oidc", json=body).status_code == 200
        assert admin.post("/api/v1/users/nobody/oidc", json=body).status_code == 400
    issuer.mode, issuer.user, issuer.subject = "valid", "someone-else", "dana-laptop"
    try:
        done, c = oidc_login(server)
        with contextlib.closing(c):
            assert done.status_code == 303, done.text
            assert c.get("/api/v1/whoami").json()["name"] == "dana"
    finally:
        issuer.user, issuer.subject = "dana", "user-123"


@pytest.mark.slow
def test_unknown_subjects_may_come_in_as_new_viewers(tmp_path, issuer: Issuer) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "state").mkdir()
    args = ["--oidc-issuer", issuer.url, "--oidc-client-id", CLIENT, "--oidc-unknown", "viewer"]
    issuer.mode, issuer.user, issuer.subject = "valid", "alice", "attacker-10"
    try:
        with web_server(tmp_path / "state", tmp_path / "books", args=args) as web:
            for _ in range(2):
                done, c = oidc_login(web)
                with contextlib.closing(c):
                    assert done.status_code == 303, done.text
                    who = c.get("/api/v1/whoami").json()
            assert who["name"] != "alice"
            assert who["name"].startswith("oidc-")
            assert who["roles"] == [{"role": "viewer", "environment": "*"}]
    finally:
        issuer.user, issuer.subject = "dana", "user-123"


@contextlib.contextmanager
def app_server(root: Path, issuer: Issuer, clock: FakeClock) -> Iterator[str]:
    """A server made by ``create_app`` in this process (uvicorn on a thread, on 127.0.0.1),
    on a store of its own where dana is linked to the issuer's subject; its URL."""
    root.mkdir()
    settings = Settings(root, f"sqlite:///{root / 'rw.db'}", "dana", environ={})
    rt = Runtime.open(settings, clock=clock)
    users.first_admin(rt, "dana")
    users.link_oidc(rt, "dana", issuer.url, issuer.subject)
    config = WebConfig(runbooks=root, oidc=OidcConfig(issuer.url, CLIENT))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(rt, config), host="127.0.0.1", port=port, lifespan="off", log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server stopped"
            assert time.monotonic() < deadline, "the server did not start in 10 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        rt.close()


def begin_login(url: str) -> tuple[httpx.Client, str]:
    """A browser that began an OIDC login at ``url``; the callback path the provider sent
    it back to (its state and code)."""
    c = httpx.Client(base_url=url)
    start = c.get("/login/oidc")
    assert start.status_code == 303, start.text
    back = httpx.get(start.headers["location"]).headers["location"]
    assert back.startswith(url + "/login/oidc/callback?")
    return c, back.removeprefix(url)


def test_two_servers_in_one_process_do_not_share_logins(tmp_path: Path, issuer: Issuer) -> None:
    issuer.mode = "valid"
    clock = FakeClock()
    with (
        app_server(tmp_path / "a", issuer, clock) as a,
        app_server(tmp_path / "b", issuer, clock) as b,
    ):
        browser, callback = begin_login(a)
        with contextlib.closing(browser):
            state = parse_qs(urlparse(callback).query)["state"][0]
            with httpx.Client(base_url=b, cookies={"runwright_oidc": state}) as other:
                refused = other.get(callback)
            assert refused.status_code == 401
            assert refused.json()["error"] == "this OIDC login is unknown or expired"
            done = browser.get(callback)
            assert done.status_code == 303, done.text
            assert browser.get("/api/v1/whoami").json()["name"] == "dana"


def test_a_pending_login_expires_on_the_servers_clock(tmp_path: Path, issuer: Issuer) -> None:
    issuer.mode = "valid"
    clock = FakeClock()
    with app_server(tmp_path / "a", issuer, clock) as a:
        browser, callback = begin_login(a)
        with contextlib.closing(browser):
            clock.advance(PENDING_TTL - 1)
            assert browser.get(callback).status_code == 303
        browser, callback = begin_login(a)
        with contextlib.closing(browser):
            clock.advance(PENDING_TTL + 1)
            late = browser.get(callback)
            assert late.status_code == 401
            assert late.json()["error"] == "this OIDC login is unknown or expired"
            assert browser.get("/api/v1/whoami").status_code == 401


def test_a_callback_without_the_browsers_cookie_cannot_cancel_its_login(
    tmp_path: Path, issuer: Issuer
) -> None:
    issuer.mode = "valid"
    with app_server(tmp_path / "a", issuer, FakeClock()) as a:
        browser, callback = begin_login(a)
        with contextlib.closing(browser):
            for cookies in ({}, {"runwright_oidc": "someone-elses"}):
                with httpx.Client(base_url=a, cookies=cookies) as stranger:
                    assert stranger.get(callback).status_code == 401
            done = browser.get(callback)
            assert done.status_code == 303, done.text
            assert browser.get("/api/v1/whoami").json()["name"] == "dana"
