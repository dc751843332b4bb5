"""The builtin proxy's state file: what a later runwright (or a restarted proxy) reads back.

The proxy outlives the command that started it, so its identity and its backend table live in
one JSON file beside it, written atomically (a temporary file renamed over it) on every
change::

    {"pid": 4242, "listen": "127.0.0.1:8080", "admin": "127.0.0.1:8081",
     "backends": [{"name": "v1", "host": "127.0.0.1", "port": 9001, "weight": 100}]}

The controller (``builtin.py``) reads the pid and admin address to attach to a running proxy;
the proxy (through its admin server) writes it and reloads the table when it restarts. This
module is the one place that knows the format, so neither side imports the other.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runwright.engine.private import write_private
from runwright.errors import InputError
from runwright.routers.base import Backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterState:
    pid: int = 0
    listen: str = ""
    admin: str = ""
    backends: tuple[Backend, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "listen": self.listen,
            "admin": self.admin,
            "backends": [b.to_dict() for b in self.backends],
        }


def _backends(path: Path, raw: Any) -> tuple[Backend, ...]:
    try:
        return tuple(Backend.from_dict(b) for b in raw or [])
    except (InputError, TypeError, AttributeError) as exc:
        log.warning("ignoring bad backend table in %s: %s", path, exc)
        return ()


def read_state(path: Path) -> RouterState:
    """The state a proxy saved; an empty one (pid 0) when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return RouterState()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return RouterState()
    if not isinstance(data, dict):
        return RouterState()
    try:
        pid = int(data.get("pid") or 0)
    except (TypeError, ValueError):
        pid = 0
    return RouterState(
        pid=pid,
        listen=str(data.get("listen") or ""),
        admin=str(data.get("admin") or ""),
        backends=_backends(path, data.get("backends")),
    )


def load_state(path: Path) -> list[Backend]:
    """The backend table a previous run of the proxy saved; empty when there is none."""
    return list(read_state(path).backends)


def save_state(path: Path, state: RouterState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(state.to_json(), indent=1))
