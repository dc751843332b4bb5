"""Login through the team's OpenID Connect provider: authorization code with PKCE.

The provider's endpoints come from its discovery document; the ID token is verified against
the provider's JWKS (signature, issuer, audience = our client id, expiry, and the nonce we
sent). The account it proves is the issuer and the subject (``sub``), the only claims the
provider vouches for as stable and unique: it logs in as the runwright user an admin linked
it to (``runwright users link-oidc``), never as whoever has the same ``preferred_username`` or
e-mail. An unlinked subject is refused, or made a new viewer with ``--oidc-unknown viewer``.
``state`` is bound to the browser by a short-lived cookie, so a login cannot be planted; the
logins begun and the provider's discovery document are this server's (``oidc_flows.py``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from runwright.app.people import users
from runwright.app.people.users import AuthError
from runwright.engine import constant_time
from runwright.web.config import OidcConfig
from runwright.web.oidc_flows import OidcFlows
from runwright.web.permissions import public
from runwright.web.state import WebState, web_state

router = APIRouter(
    include_in_schema=False,
    dependencies=[public("logging in is how a visitor gets a credential")],
)
State = Annotated[WebState, Depends(web_state)]
COOKIE = "runwright_oidc"


def _config(state: WebState) -> tuple[OidcConfig, OidcFlows]:
    if state.config.oidc is None or state.oidc is None:
        raise AuthError("OIDC login is not configured", hint="start serve with --oidc-issuer")
    return state.config.oidc, state.oidc


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/login/oidc/callback"


@router.get("/login/oidc")
def start(request: Request, state: State, next: str = "/") -> Response:
    cfg, flows = _config(state)
    doc = flows.discovery()
    key, pending = flows.begin(next)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": cfg.client_id,
            "redirect_uri": _callback_url(request),
            "scope": "openid profile email",
            "state": key,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{doc['authorization_endpoint']}?{query}", status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        max_age=int(flows.ttl),
        httponly=True,
        samesite="lax",
        secure=state.config.secure_cookies,
    )
    return response


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    suggested: str
    """The name the provider suggests (a new viewer's name, if free); proves nothing."""


def verify_id_token(cfg: OidcConfig, doc: dict[str, Any], token: str, nonce: str) -> Identity:
    """The identity an ID token proves; AuthError for any flaw."""
    try:
        key = jwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(token).key
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256", "ES256", "PS256"],
            audience=cfg.client_id,
            issuer=cfg.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except (jwt.PyJWTError, KeyError) as exc:
        raise AuthError(f"the identity provider's ID token was refused: {exc}") from None
    if claims.get("nonce") != nonce:
        raise AuthError("the identity provider's ID token was refused: wrong nonce")
    suggested = claims.get(cfg.username_claim) or claims["sub"]
    return Identity(str(claims["iss"]), str(claims["sub"]), str(suggested))


@router.get("/login/oidc/callback")
def callback(request: Request, state: State, code: str = "") -> Response:
    from runwright.web.login import start_session

    cfg, flows = _config(state)
    key = request.query_params.get("state", "")
    # Only the browser that began the login may end it: a request without its cookie must not
    # take (and so cancel) someone else's pending login.
    bound = bool(key) and constant_time.equal(request.cookies.get(COOKIE, ""), key)
    pending = flows.finish(key) if bound and code else None
    if pending is None:
        raise AuthError("this OIDC login is unknown or expired", hint="start again at /login")
    doc = flows.discovery()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _callback_url(request),
        "client_id": cfg.client_id,
        "code_verifier": pending.verifier,
    }
    if cfg.client_secret:
        form["client_secret"] = cfg.client_secret
    try:
        answer = httpx.post(doc["token_endpoint"], data=form, timeout=10).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AuthError(f"the identity provider refused the code: {exc}") from None
    who = verify_id_token(cfg, doc, str(answer.get("id_token", "")), pending.nonce)
    name = users.oidc_login(state.runtime, who.issuer, who.subject, who.suggested, cfg.unknown)
    response = start_session(state, name, pending.next)
    response.delete_cookie(COOKIE)
    return response
