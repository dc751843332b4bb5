"""OIDC login (authorization code + PKCE) against an identity provider made here: its own
RSA key, a discovery document, a JWKS endpoint, an authorize endpoint that answers at once
and a token endpoint that checks the PKCE verifier. A valid ID token of a linked (issuer,
subject) logs in; a wrong audience, an expired token and one signed by another key do not,
and neither does a subject nobody linked, whatever name it claims.
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
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.web import WebServer, web_server

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
