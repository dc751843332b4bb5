"""Approve or reject from Slack: the interaction callback of the Approve / Reject buttons.

Slack signs each request with the app's signing secret: ``X-Slack-Signature`` is ``v0=`` and
the hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request whose
signature is wrong, whose timestamp is more than five minutes away from the server's clock,
or that was accepted before (the signature is recorded once, in the store, so two servers
cannot both accept a replay) is refused with 401 and touches nothing but the audit trail.

A verified press decides as the runwright user linked to the Slack member
(``runwright users link-slack bob U123``), through the same action as the API, so the role
per environment, the initiator rule, N distinct approvers and expiry all apply. The Slack
message is then updated in place (``response_url``) with who decided; a refusal (an unlinked
member, a policy) is shown to the person who pressed, and every refusal is an event in the
run's audit chain (``slack.refused``) when the request names a run that exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse

from runwright.engine import constant_time
from runwright.engine.accounts import Accounts
from runwright.engine.links import SlackLinks
from runwright.errors import InputError, NotFoundError, RunwrightError
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus
from runwright.notify.slack import APPROVE, REJECT, approval_buttons
from runwright.web import actions
from runwright.web.auth import WebUser
from runwright.web.permissions import public, run_access
from runwright.web.state import WebState, web_state

log = logging.getLogger(__name__)
router = APIRouter()
State = Annotated[WebState, Depends(web_state)]
MAX_AGE = timedelta(minutes=5)
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Press:
    """What a button press claims (trusted only once its signature is verified)."""

    run_id: int
    action: str
    slack_id: str
    slack_name: str
    response_url: str | None


def signature_problem(
    secret: str, timestamp: str, signature: str, body: bytes, now: datetime
) -> str | None:
    """Why a request is not Slack's, fresh and intact; None when it is."""
    if not timestamp.isdigit():
        return "no X-Slack-Request-Timestamp"
    age = abs(now.timestamp() - int(timestamp))
    if age > MAX_AGE.total_seconds():
        return f"stale timestamp ({int(age)} s old; at most {int(MAX_AGE.total_seconds())} s)"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not constant_time.equal(signature, expected):
        return "bad signature"
    return None


def parse(body: bytes) -> Press | None:
    """The press a ``payload=`` form body describes, or None if it is no runwright button."""
    try:
        form = parse_qs(body.decode(), strict_parsing=False)
        payload = json.loads(form["payload"][0])
        action = payload["actions"][0]
        user = payload["user"]
        run_id = int(action["value"])
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
        return None
    if action.get("action_id") not in (APPROVE, REJECT):
        return None
    url = payload.get("response_url")
    return Press(
        run_id,
        str(action["action_id"]),
        str(user.get("id", "")),
        str(user.get("username") or user.get("name") or user.get("id", "")),
        url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
    )


def _audit(state: WebState, press: Press | None, why: str, verified: bool) -> None:
    if press is None:
        log.warning("Slack interaction refused: %s", why)
        return
    rt = state.runtime
    try:
        rt.store.run(press.run_id)
        rt.store.append(
            press.run_id,
            actor=f"slack:{press.slack_id}",
            type=EventType.SLACK_REFUSED,
            at=rt.clock.now(),
            data={"reason": why, "action": press.action, "signature_verified": verified},
        )
    except RunwrightError:
        log.warning("Slack interaction for run %s refused: %s", press.run_id, why)


async def _reply(url: str | None, body: dict[str, Any]) -> None:
    if url is None:
        return
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            (await client.post(url, json=body)).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("cannot update the Slack message at %s: %s", url, exc)


def _decided(state: WebState, press: Press, text: str) -> dict[str, Any]:
    """The message, replaced in place: who decided, and the buttons while more are needed."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    run = state.runtime.store.run(press.run_id)
    if run.status == RunStatus.AWAITING_APPROVAL and press.action == APPROVE:
        blocks.append(approval_buttons(press.run_id))
    return {"replace_original": True, "text": text, "blocks": blocks}


async def _decide(state: WebState, press: Press, user: str) -> str:
    who = WebUser(user, "slack", tuple(Accounts(state.runtime.store.engine).grants(user)))
    note = f"from Slack ({press.slack_name})"
    action = "approve" if press.action == APPROVE else "reject"
    access = await asyncio.to_thread(run_access, state, who, press.run_id, action)
    if press.action == APPROVE:
        done = await actions.approve(state, access, note)
    else:
        done = await actions.reject_run(state, access, note)
    return done.message


SIGNED_BY_SLACK = public("Slack signs each request; the linked user's roles decide (actions)")


@router.post("/api/v1/slack/interactions", response_model=None, dependencies=[SIGNED_BY_SLACK])
async def interactions(request: Request, state: State, later: BackgroundTasks) -> JSONResponse:
    secret = state.config.slack_signing_secret
    if not secret:
        raise NotFoundError(
            "Slack interactions are off on this server",
            hint="start runwright serve with --slack-signing-secret (or its env variable)",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "request too large"}, status_code=413)
    press = parse(body)
    now = state.runtime.clock.now()
    signature = request.headers.get("x-slack-signature", "")
    why = signature_problem(
        secret, request.headers.get("x-slack-request-timestamp", ""), signature, body, now
    )
    links = SlackLinks(state.runtime.store.engine)
    if why is None and not links.first_time(signature, now=now, forget_before=now - 2 * MAX_AGE):
        why = "replayed request (already accepted once)"
    if why is not None:
        _audit(state, press, why, verified=False)
        return JSONResponse({"error": f"Slack request refused: {why}"}, status_code=401)
    if press is None:
        return JSONResponse({"error": "not a runwright button"}, status_code=400)
    user = links.user_of(press.slack_id)
    try:
        if user is None:
            raise InputError(
                f"Slack user {press.slack_id} is not linked to a runwright user",
                hint=f"an admin links you: runwright users link-slack NAME {press.slack_id}",
            )
        message = await _decide(state, press, user)
    except RunwrightError as exc:
        why = exc.message + (f" ({exc.hint})" if exc.hint else "")
        _audit(state, press, why, verified=True)
        refusal = {"response_type": "ephemeral", "replace_original": False, "text": why}
        later.add_task(_reply, press.response_url, refusal)
        return JSONResponse({"ok": False, "error": why})
    later.add_task(_reply, press.response_url, _decided(state, press, message))
    return JSONResponse({"ok": True, "message": message})
