"""The server's side of ``runwright login URL --browser`` (``app/people/devices.py``): the
terminal's two API calls, and the page where a logged-in person confirms the code.

The two API calls need no credential (the terminal has none yet); what they hand out is a
token of whoever confirms, so the page shows the code the terminal printed and asks the
person to compare before confirming, and the confirming post carries the session's CSRF
token like every dashboard form.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from runwright.app.people import devices
from runwright.app.people.users import AuthError
from runwright.web.auth import identify
from runwright.web.forms import Actor
from runwright.web.pages import render
from runwright.web.permissions import public
from runwright.web.state import WebState, web_state

router = APIRouter()
State = Annotated[WebState, Depends(web_state)]


class TokenBody(BaseModel):
    device_code: str = Field(min_length=1, max_length=200)


NO_CREDENTIAL_YET = public("the terminal has no credential yet; a person confirms its code")


@router.post("/api/v1/device/start", dependencies=[NO_CREDENTIAL_YET])
def start(request: Request, state: State) -> dict[str, Any]:
    began = devices.start(state.runtime)
    base = str(request.base_url).rstrip("/")
    return {
        "device_code": began.device_code,
        "user_code": began.user_code,
        "verification_uri": f"{base}/device?code={began.user_code}",
        "expires_in": began.expires_in,
        "interval": 1,
    }


@router.post("/api/v1/device/token", response_model=None, dependencies=[NO_CREDENTIAL_YET])
def token(body: TokenBody, state: State) -> JSONResponse:
    got = devices.redeem(state.runtime, body.device_code)
    if got is None:
        return JSONResponse({"pending": True}, status_code=202)  # not a status
    return JSONResponse({"user": got[0], "token": got[1]})


@router.get(
    "/device",
    include_in_schema=False,
    dependencies=[public("shows the code to compare; an anonymous visitor is sent to log in")],
)
def page(request: Request, code: str = "") -> Response:
    try:
        user = identify(request)
    except AuthError:
        return RedirectResponse("/login?next=" + quote(f"/device?code={code}"), status_code=303)
    return render(request, "device.html", user, code=code[:20])


@router.post("/device", include_in_schema=False)
async def confirm(request: Request, user: Actor, state: State) -> Response:
    code = str((await request.form()).get("code", ""))[:20]
    devices.confirm(state.runtime, code, user.name)
    return render(request, "device.html", user, code=code, confirmed=True)
