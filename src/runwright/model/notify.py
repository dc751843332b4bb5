"""Who hears about a run: the ``sinks`` a runbook declares and the ``notify`` subscriptions.

A sink says where messages go (Slack, a webhook, email, a status page); a subscription says
which run events go to which sink, with an optional Jinja template. Values may reference
variables and secrets (``{{ secrets.SLACK_TOKEN }}``); they are rendered at run time and the
secrets are redacted from every payload.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from runwright.model.status import RunEvent
from runwright.model.types import Duration, Strict


class SlackSink(Strict):
    """Incoming webhook (``webhook``), or the Web API (``token`` + ``channel``) so that one
    run is one message updated in place, with details in its thread."""

    webhook: str | None = None
    token: str | None = None
    channel: str | None = None
    api_url: str = "https://slack.com/api"
    run_url: str | None = Field(None, description="Link to a run's page; {{ run_id }} allowed")
    approval_buttons: bool = Field(
        False,
        description="Approve/Reject buttons on a run awaiting approval; the Slack app's "
        "interactivity URL must be the server's /api/v1/slack/interactions",
    )

    @model_validator(mode="after")
    def _one_way(self) -> SlackSink:
        if bool(self.webhook) == bool(self.token):
            raise ValueError("give either webhook (incoming webhook) or token and channel")
        if self.token and not self.channel:
            raise ValueError("a Slack token needs a channel to post in")
        return self


class WebhookSink(Strict):
    """JSON POST, signed with HMAC-SHA256 when ``secret`` is set, retried with backoff.
    ``body`` replaces runwright's payload with your API's: a JSON value whose strings are
    templates rendered per message (``event``, ``title``, ``text``, ``run``,
    ``incident_status``, ``impact``... and the run's variables)."""

    url: str
    secret: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | list[Any] | None = Field(
        None, description="The JSON body your API takes; strings are templates per message"
    )
    retries: int = Field(3, ge=0, le=20)
    backoff: Duration = 1.0
    timeout: Duration = 10.0


class EmailSink(Strict):
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    ca_file: str | None = Field(None, description="CA bundle that signed the server's cert")
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 10.0


class StatusPageSink(Strict):
    """Atlassian Statuspage (``kind: statuspage``, ``page_id``) or Cachet (``kind: cachet``)."""

    kind: str = Field(pattern="^(statuspage|cachet)$")
    url: str
    token: str
    page_id: str | None = None
    component_id: str | None = None
    success_note: bool = Field(
        False, description="Post a resolved note for a good release when no incident is open"
    )
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _page(self) -> StatusPageSink:
        if self.kind == "statuspage" and not self.page_id:
            raise ValueError("a Statuspage sink needs page_id")
        return self


class SinkSpec(Strict):
    """Exactly one of the sink kinds."""

    slack: SlackSink | None = None
    webhook: WebhookSink | None = None
    email: EmailSink | None = None
    status_page: StatusPageSink | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SinkSpec:
        given = [k for k in ("slack", "webhook", "email", "status_page") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a sink is exactly one of: slack, webhook, email, status_page")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("slack", "webhook", "email", "status_page") if getattr(self, k))

    def settings(self) -> Strict:
        value = getattr(self, self.kind)
        assert isinstance(value, Strict)
        return value


class Subscription(Strict):
    to: str
    events: list[RunEvent] = Field(default_factory=lambda: list(RunEvent))
    template: str | None = None
    required: bool = False


def subscriptions_for(
    runbook_notify: list[Subscription], env_notify: list[Subscription]
) -> list[Subscription]:
    """The runbook's subscriptions, then the environment's."""
    return [*runbook_notify, *env_notify]


def render_settings(spec: SinkSpec, render: Any) -> dict[str, Any]:
    """The sink's settings with every string rendered by ``render`` (variables, secrets)."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return render(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    data = spec.settings().model_dump(by_alias=False)
    body = data.pop("body", None)  # a template per message, rendered by the sink
    out = walk(data)
    assert isinstance(out, dict)
    return {**out, "body": body} if body is not None else out
