"""Where ``runwright login`` keeps a person's server and token: one file, mode 0600.

``$XDG_CONFIG_HOME/runwright/credentials`` (default ``~/.config/runwright/credentials``) is a
JSON object: the server the last login chose (``current``) and a token per server, so one
person can log in to staging's and production's servers and switch with ``--server``. CI
passes ``RUNWRIGHT_SERVER`` and ``RUNWRIGHT_TOKEN`` instead and writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runwright.errors import InputError


def path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "runwright" / "credentials"


def _read(file: Path) -> dict[str, object]:
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {file}: {exc}",
            hint=f"log in again: runwright login URL (or delete {file})",
        ) from None
    return data if isinstance(data, dict) else {}


def normalize(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(
            f"server {url!r} is not an http(s) URL", hint="e.g. https://deploy.example.com"
        )
    return url


@dataclass(frozen=True)
class Login:
    server: str
    token: str | None


def current(environ: Mapping[str, str], server: str | None) -> Login | None:
    """The server to talk to and its token: ``server`` (flag or RUNWRIGHT_SERVER) or the last
    login's, with RUNWRIGHT_TOKEN or the stored token; None when no server is known."""
    stored = _read(path(environ))
    chosen = server or environ.get("RUNWRIGHT_SERVER") or stored.get("current")
    if not isinstance(chosen, str) or not chosen:
        return None
    chosen = normalize(chosen)
    token = environ.get("RUNWRIGHT_TOKEN") or None
    servers = stored.get("servers")
    if token is None and isinstance(servers, dict):
        entry = servers.get(chosen)
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            token = entry["token"]
    return Login(chosen, token)


def save(environ: Mapping[str, str], server: str, token: str) -> Path:
    """Store ``token`` for ``server`` and make it the current server (file mode 0600)."""
    file = path(environ)
    data = _read(file)
    servers = data.get("servers")
    servers = dict(servers) if isinstance(servers, dict) else {}
    servers[server] = {"token": token}
    data.update(current=server, servers=servers)
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = file.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1)
    os.replace(temp, file)
    return file


def forget(environ: Mapping[str, str], server: str) -> bool:
    """Remove ``server``'s token; whether there was one."""
    file = path(environ)
    data = _read(file)
    servers = data.get("servers")
    if not isinstance(servers, dict) or server not in servers:
        return False
    servers = {k: v for k, v in servers.items() if k != server}
    data["servers"] = servers
    if data.get("current") == server:
        data.pop("current")
    fd = os.open(file, os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1)
    return True
