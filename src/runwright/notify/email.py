"""Email over SMTP: STARTTLS when asked, a plain-text part and an HTML part.

smtplib is blocking, so a message is sent in a worker thread; the event loop keeps driving
the run meanwhile.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from runwright.errors import NotifyError
from runwright.notify.base import Delivered, Notice


def compose(notice: Notice, sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[runwright] {notice.title}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-Runwright-Key"] = notice.key
    facts = [
        ("Runbook", notice.runbook),
        ("Environment", notice.environment),
        ("Version", notice.version),
        ("By", notice.actor),
        *notice.details.items(),
    ]
    lines = [notice.text, "", *(f"{k}: {v}" for k, v in facts)]
    if notice.url:
        lines += ["", notice.url]
    message.set_content("\n".join(lines) + "\n")
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in facts
    )
    link = f"<p><a href='{html.escape(notice.url)}'>Open the run</a></p>" if notice.url else ""
    message.add_alternative(
        f"<html><body><h2>{html.escape(notice.title)}</h2><p>{html.escape(notice.text)}</p>"
        f"<table>{rows}</table>{link}</body></html>",
        subtype="html",
    )
    return message


@dataclass
class EmailSink:
    host: str
    sender: str
    to: list[str]
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    ca_file: str | None = None

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)

    async def send(self, notice: Notice) -> Delivered:
        message = compose(notice, self.sender, self.to)
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError(
                f"SMTP server {self.host}:{self.port} does not offer STARTTLS",
                retryable=False,
                hint="set starttls: false only for a server on a trusted network",
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"cannot send email through {self.host}:{self.port}: {exc}") from exc
        return Delivered(detail=f"mailed {len(self.to)} recipient(s)")

    async def aclose(self) -> None:
        return None
