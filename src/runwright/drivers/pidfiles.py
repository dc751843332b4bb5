"""Recognising the processes runwright started, after runwright itself was killed or restarted.

Versions started by the local driver outlive runwright on purpose (the old version must keep
serving while a crashed run is resumed). What ties them back to a service is a pid file per
instance under ``STATE_DIR/services/<service>/``: a small JSON record of the pid, the process
group, the port, the version, the command and the process start time read from
``/proc/PID/stat``. A pid alone is not an identity: the kernel recycles pids, and killing a
recycled one would kill a stranger. A recorded process counts as running only while a process
with that pid *and* that start time exists (and is not a zombie), or while its process group
(a session of its own, created at start) still has live members.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runwright.drivers.base import Instance
from runwright.errors import DriverError

log = logging.getLogger(__name__)

PROC = Path("/proc")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ProcessInfo:
    """What ``/proc/PID/stat`` says about a process."""

    pid: int
    state: str
    pgid: int
    sid: int
    start_ticks: int

    @property
    def live(self) -> bool:
        return self.state not in ("Z", "X", "x")


def process_info(pid: int) -> ProcessInfo | None:
    """The process ``pid`` as the kernel sees it now, or None when there is none."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcessInfo(
            pid=pid,
            state=fields[0],
            pgid=int(fields[2]),
            sid=int(fields[3]),
            start_ticks=int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


def _all_processes() -> Iterator[ProcessInfo]:
    for entry in os.listdir(PROC):
        if entry.isdigit():
            info = process_info(int(entry))
            if info is not None:
                yield info


def group_members(pgid: int) -> list[int]:
    """Live processes of the group ``pgid`` in the session of the same id (one we created)."""
    if pgid <= 1:
        return []
    return [p.pid for p in _all_processes() if p.pgid == pgid and p.sid == pgid and p.live]


def is_same_process(pid: int, start_ticks: int) -> bool:
    """Whether ``pid`` is still the very process that was recorded (not a recycled pid)."""
    info = process_info(pid)
    return info is not None and info.live and info.start_ticks == start_ticks


def is_running(instance: Instance) -> bool:
    """Whether the recorded process, or anything else in its process group, is still alive."""
    if is_same_process(instance.pid, instance.start_ticks):
        return True
    return bool(group_members(instance.pgid))


def safe_name(text: str) -> str:
    """A file name made of ``text`` that cannot climb out of its directory."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "_"
    return cleaned[:80]


class PidFiles:
    """The pid files of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "services"

    def directory(self, service: str) -> Path:
        return self.root / safe_name(service)

    def path(self, instance: Instance) -> Path:
        name = f"{safe_name(instance.version)}-{instance.port}.json"
        return self.directory(instance.service) / name

    def write(self, instance: Instance) -> Path:
        path = self.path(instance)
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(to_record(instance), indent=2) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise DriverError(
                f"cannot record {instance.describe()} in {path}: {exc.strerror or exc}",
                hint="check the state directory's permissions and free space",
            ) from None
        return path

    def remove(self, instance: Instance) -> None:
        self.path(instance).unlink(missing_ok=True)

    def read(self, service: str) -> list[tuple[Path, Instance]]:
        """Every readable record of ``service``; unreadable files are logged and skipped."""
        directory = self.directory(service)
        if not directory.is_dir():
            return []
        found = []
        for path in sorted(directory.glob("*.json")):
            try:
                instance = from_record(json.loads(path.read_text()))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable pid file %s: %s", path, exc)
                continue
            if instance.service == service:
                found.append((path, instance))
        return found


def to_record(instance: Instance) -> dict[str, Any]:
    return {
        "service": instance.service,
        "version": instance.version,
        "host": instance.host,
        "port": instance.port,
        "pid": instance.pid,
        "pgid": instance.pgid,
        "start_ticks": instance.start_ticks,
        "started_at": instance.started_at.isoformat(),
        "health": instance.health,
        "command": instance.command,
        "log": instance.log,
    }


def from_record(data: dict[str, Any]) -> Instance:
    return Instance(
        service=str(data["service"]),
        version=str(data["version"]),
        host=str(data["host"]),
        port=int(data["port"]),
        pid=int(data["pid"]),
        pgid=int(data["pgid"]),
        start_ticks=int(data["start_ticks"]),
        started_at=datetime.fromisoformat(str(data["started_at"])),
        health=str(data.get("health", "/health")),
        command=str(data.get("command", "")),
        log=str(data.get("log", "")),
    )
