"""Telling people: notification sinks and Alertmanager silences.

base          the ``Sink`` contract, ``Notice`` and ``Delivered``
slack         Block Kit by incoming webhook, or one message per run via the Web API
webhook       signed JSON with an idempotency key
email         SMTP with STARTTLS, plain text and HTML
status_page   Atlassian Statuspage and Cachet incidents
alertmanager  silences held as a lease while a run is alive
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runwright.notify.base import Sink


def make_sink(kind: str, settings: Mapping[str, Any]) -> Sink:
    """The sink of ``kind`` (a key of the runbook's sink section) from rendered settings."""
    if kind == "slack":
        from runwright.notify.slack import SlackApiSink, SlackWebhookSink

        buttons = bool(settings.get("approval_buttons"))
        if settings.get("token"):
            return SlackApiSink(
                token=settings["token"],
                channel=settings["channel"],
                api_url=settings["api_url"],
                buttons=buttons,
            )
        return SlackWebhookSink(webhook=settings["webhook"], buttons=buttons)
    if kind == "webhook":
        from runwright.notify.webhook import WebhookSink

        return WebhookSink(
            url=settings["url"],
            secret=settings.get("secret"),
            headers=settings.get("headers", {}),
            timeout=settings.get("timeout", 10.0),
            body=settings.get("body"),
            variables=settings.get("variables", {}),
        )
    if kind == "email":
        from runwright.notify.email import EmailSink

        return EmailSink(
            host=settings["host"],
            port=settings["port"],
            starttls=settings["starttls"],
            username=settings.get("username"),
            password=settings.get("password"),
            sender=settings["sender"],
            to=list(settings["to"]),
            timeout=settings.get("timeout", 10.0),
            ca_file=settings.get("ca_file"),
        )
    if kind == "status_page":
        from runwright.notify.status_page import StatusPageSink

        return StatusPageSink(
            kind=settings["kind"],
            url=settings["url"],
            token=settings["token"],
            page_id=settings.get("page_id"),
            component_id=settings.get("component_id"),
            success_note=settings.get("success_note", False),
            timeout=settings.get("timeout", 10.0),
        )
    raise ValueError(f"unknown sink kind {kind!r}")
