"""Who is acting, and how we know: the identity decisions (approvals, attestations) count under.

A name alone proves nothing: ``RUNWRIGHT_USER=bob`` (or ``LOGNAME=bob``, ``USER=bob``) can be
typed by anyone. So every use case that records a decision takes an ``Identity``: the name *and*
how it was established. The local CLI knows the OS user from the kernel (the effective uid's
account); the web server passes the token or login user it authenticated. A name
that was only declared counts for a decision only where the environment allows it
(``identity: self_declared``), and is then recorded as self-declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AuthMethod(StrEnum):
    OS = "os"
    TOKEN = "token"
    LOGIN = "login"
    SLACK = "slack"
    SELF_DECLARED = "self_declared"


@dataclass(frozen=True)
class Identity:
    name: str
    via: AuthMethod

    @property
    def authenticated(self) -> bool:
        return self.via != AuthMethod.SELF_DECLARED

    def __str__(self) -> str:
        return self.name if self.authenticated else f"{self.name} (self-declared)"


def refusal(identity: Identity, environment: str, policy: str, os_user: str) -> str | None:
    """Why ``identity`` may not decide in ``environment``, or None."""
    if identity.authenticated or policy == "self_declared":
        return None
    return (
        f"'{identity.name}' is only declared (RUNWRIGHT_USER, LOGNAME or USER) and differs "
        f"from the OS user '{os_user}'; environment '{environment}' counts decisions only from an "
        "authenticated identity"
    )
