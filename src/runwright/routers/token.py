"""The builtin proxy's admin token: only who can read the state directory may steer traffic.

The admin API listens on 127.0.0.1, but any local process (or a web page reaching 127.0.0.1
through DNS rebinding) could otherwise ``PUT /backends`` and re-point live traffic. So the
proxy requires ``Authorization: Bearer TOKEN``, where the token is a random secret kept in a
file of mode 0600 beside the state file. Whoever starts first creates it (the controller
before it launches the proxy, or a proxy started by hand); both sides read the same file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

TOKEN_NAME = "admin.token"


def ensure_token(path: Path) -> str:
    """The token in ``path``, created (random, mode 0600) when it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return read_token(path)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    try:
        os.link(tmp, path)  # atomic, and never over a token another process wrote first
    except FileExistsError:
        return read_token(path)
    finally:
        tmp.unlink()
    return token


def read_token(path: Path) -> str:
    """The token in ``path`` (its mode tightened to 0600 if it was looser); "" when missing."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return ""
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    return text
