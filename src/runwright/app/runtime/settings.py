"""Settings read once at the edge and passed down; nothing below the edges reads the environment."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runwright.app.runtime.identity import AuthMethod, Identity
from runwright.engine.processes import owner_tag
from runwright.errors import InputError


def default_state_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("RUNWRIGHT_STATE_DIR"):
        return Path(environ["RUNWRIGHT_STATE_DIR"]).expanduser()
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "runwright"


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    database_url: str
    user: str
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    hostname: str = field(default_factory=socket.gethostname)
    crash_at: str | None = None
    lease_ttl: float = 30.0
    via: AuthMethod = AuthMethod.OS
    os_user: str = ""
    audit_key: str | None = field(default=None, repr=False)
    witness: Path | None = None

    @property
    def owner(self) -> str:
        return f"{self.user}@{self.hostname}:{owner_tag()}"

    @property
    def identity(self) -> Identity:
        """The acting person: the OS user, or a self-declared name from the environment."""
        return Identity(self.user, self.via)

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        database_url: str | None = None,
        state_dir: str | None = None,
        user: str | None = None,
    ) -> Settings:
        state = Path(state_dir).expanduser() if state_dir else default_state_dir(environ)
        url = (
            database_url
            or environ.get("RUNWRIGHT_DATABASE_URL")
            or f"sqlite:///{state / 'runwright.db'}"
        )
        os_user = _os_user()
        who = user or declared_name(environ) or os_user
        return cls(
            state_dir=state,
            database_url=url,
            user=who,
            environ=dict(environ),
            crash_at=environ.get("RUNWRIGHT_CRASH_AT") or None,
            via=AuthMethod.OS if who == os_user else AuthMethod.SELF_DECLARED,
            os_user=os_user,
            audit_key=environ.get("RUNWRIGHT_AUDIT_KEY") or None,
            witness=Path(environ["RUNWRIGHT_WITNESS"]).expanduser()
            if environ.get("RUNWRIGHT_WITNESS")
            else None,
            lease_ttl=_lease_ttl(environ),
        )


def _lease_ttl(environ: Mapping[str, str]) -> float:
    """RUNWRIGHT_LEASE_TTL: seconds a run's driver may go silent before another takes over."""
    text = environ.get("RUNWRIGHT_LEASE_TTL", "").strip()
    if not text:
        return 30.0
    try:
        ttl = float(text)
    except ValueError:
        ttl = -1.0
    if not 0.5 <= ttl <= 3600:
        raise InputError(
            f"RUNWRIGHT_LEASE_TTL={text!r} is not a number of seconds between 0.5 and 3600",
            hint="unset it for the default (30), or give e.g. RUNWRIGHT_LEASE_TTL=10",
        )
    return ttl


# Names a process's environment carries, most specific first. Anyone can set them (``LOGNAME=bob
# runwright approve``), so each one that differs from the kernel's account is self-declared.
DECLARED_NAMES = ("RUNWRIGHT_USER", "LOGNAME", "USER")


def declared_name(environ: Mapping[str, str]) -> str | None:
    """The first name the environment declares, or None."""
    for variable in DECLARED_NAMES:
        name = environ.get(variable, "").strip()
        if name:
            return name
    return None


def _os_user() -> str:
    """The account the kernel runs this process as (its effective uid), never a name from the
    environment: ``getpass.getuser()`` reads LOGNAME and USER first."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"
