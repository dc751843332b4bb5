"""Slack: Block Kit messages by incoming webhook, or one message per run through the Web API.

With a bot token the first notice of a run is posted (``chat.postMessage``) and its ``ts``
journaled; every later notice of that run updates the same message (``chat.update``) and adds
its details as a reply in the message's thread, so a channel shows one line per release,
however long it runs, and a restart does not lose the thread (the ``ts`` is in the journal).
An incoming webhook cannot edit, so each notice is a new message there.

With ``approval_buttons`` a run awaiting approval gets Approve / Reject buttons; Slack sends a
press to the server's ``/api/v1/slack/interactions`` (``web/slack.py``), which checks it and
records the decision as the runwright user linked to the Slack member who pressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from runwright.errors import NotifyError
from runwright.model.status import RunEvent
from runwright.notify.base import Delivered, Notice, check_status, http_failure

EMOJI: dict[str, str] = {
    RunEvent.STARTED: ":rocket:",
    RunEvent.AWAITING_APPROVAL: ":raised_hand:",
    RunEvent.AWAITING_ATTESTATION: ":clipboard:",
    RunEvent.ANALYSIS_FAILING: ":warning:",
    RunEvent.SUCCEEDED: ":white_check_mark:",
    RunEvent.FAILED: ":x:",
    RunEvent.ROLLED_BACK: ":rewind:",
    RunEvent.ABORTED: ":octagonal_sign:",
}


APPROVE = "runwright_approve"
REJECT = "runwright_reject"
"""``action_id`` of the buttons; their ``value`` is the run id."""


def approval_buttons(run_id: int) -> dict[str, Any]:
    """An actions block with Approve and Reject buttons for ``run_id`` (Block Kit)."""
    return {
        "type": "actions",
        "block_id": f"runwright_decide_{run_id}",
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": str(run_id),
            },
            {
                "type": "button",
                "action_id": REJECT,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": str(run_id),
                "confirm": {
                    "title": {"type": "plain_text", "text": "Reject this release?"},
                    "text": {"type": "mrkdwn", "text": f"Run {run_id} will roll back."},
                    "confirm": {"type": "plain_text", "text": "Reject"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            },
        ],
    }


def blocks(notice: Notice, buttons: bool = False) -> list[dict[str, Any]]:
    """The Block Kit layout: a header, the text, the run's facts, a link to its page, and
    with ``buttons`` Approve/Reject on a run awaiting approval."""
    facts = [
        {"type": "mrkdwn", "text": f"*Runbook*\n{notice.runbook}"},
        {"type": "mrkdwn", "text": f"*Environment*\n{notice.environment}"},
        {"type": "mrkdwn", "text": f"*Version*\n{notice.version}"},
        {"type": "mrkdwn", "text": f"*By*\n{notice.actor}"},
    ]
    out: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": notice.title[:150], "emoji": True},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{EMOJI.get(notice.event, '')} {notice.text}"},
        },
        {"type": "section", "fields": facts},
    ]
    if notice.url:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": f"Run {notice.run_id}"},
                        "url": notice.url,
                    }
                ],
            }
        )
    if buttons and notice.event == RunEvent.AWAITING_APPROVAL:
        out.append(approval_buttons(notice.run_id))
    return out


@dataclass
class SlackWebhookSink:
    webhook: str
    timeout: float = 10.0
    buttons: bool = False

    def __post_init__(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)

    async def send(self, notice: Notice) -> Delivered:
        body = {
            "text": f"{notice.title}: {notice.text}",
            "blocks": blocks(notice, self.buttons),
        }
        try:
            response = await self._client.post(self.webhook, json=body)
        except httpx.HTTPError as exc:
            raise http_failure("the Slack webhook", exc) from exc
        check_status("the Slack webhook", response)
        return Delivered(detail="posted")

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass
class SlackApiSink:
    token: str
    channel: str
    api_url: str = "https://slack.com/api"
    timeout: float = 10.0
    buttons: bool = False

    def __post_init__(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.timeout, headers={"Authorization": f"Bearer {self.token}"}
        )

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.api_url.rstrip('/')}/{method}"
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise http_failure(f"Slack {method}", exc) from exc
        check_status(f"Slack {method}", response)
        data: dict[str, Any] = response.json()
        if not data.get("ok"):
            error = data.get("error", "unknown error")
            raise NotifyError(
                f"Slack {method} refused the message: {error}",
                retryable=error in {"ratelimited", "internal_error", "service_unavailable"},
                hint="check the bot token's scopes (chat:write) and that it is in the channel",
            )
        return data

    async def send(self, notice: Notice) -> Delivered:
        text = f"{notice.title}: {notice.text}"
        ts = notice.refs.get("slack_ts")
        channel = notice.refs.get("slack_channel", self.channel)
        message = {"channel": channel, "text": text, "blocks": blocks(notice, self.buttons)}
        if ts is None:
            posted = await self._call("chat.postMessage", message)
            ts = str(posted["ts"])
            channel = str(posted.get("channel", channel))
            verb = "posted"
        else:
            await self._call("chat.update", {**message, "ts": ts})
            verb = "updated"
        await self._call("chat.postMessage", {"channel": channel, "thread_ts": ts, "text": text})
        return Delivered(refs={"slack_ts": ts, "slack_channel": channel}, detail=verb)

    async def aclose(self) -> None:
        await self._client.aclose()
