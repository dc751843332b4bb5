"""What ``runwright serve`` was told, read once at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = ""
    username_claim: str = "preferred_username"
    unknown: str = "refuse"
    """What a first login by an unlinked (issuer, subject) gets: refused, or a new viewer."""


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8400
    runbooks: Path | None = None
    read_only_public: bool = False
    oidc: OidcConfig | None = None
    poll_interval: float = 0.05
    secure_cookies: bool = False
    public_url: str = ""
    """The URL users reach the server by (behind a proxy: its https address); cross-site
    checks accept it as well as the request's own origin."""
    workers: int = 0
    """Worker processes ``serve`` supervises; with any, deploys are queued for them."""
    slack_signing_secret: str = field(default="", repr=False)
    """The Slack app's signing secret; without it /api/v1/slack/interactions is off."""
    accept_sent_runbooks: bool = False
    """Whether deploys and plans may send a runbook's content (``runwright deploy FILE``);
    off, only the runbooks of ``runbooks`` run, which only the server's admin can change."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:8400)")
    return host.strip("[]"), int(port)
