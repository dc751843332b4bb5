"""Processes that may outlive runwright: step process groups and lease holders.

Steps run in their own session so a timeout can stop everything they started; the price is
that a SIGKILLed runwright leaves them running. So each in-flight step's process group is
journaled with the start time of its leader (``/proc/PID/stat`` field 22, in clock ticks since
boot) and the boot id. After a crash that mark tells whether the step is still running, and a
kill is sent only to a group whose leader is the same process: a recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


def start_ticks(pid: int, *, zombie: bool = False) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if it does not exist (or, unless
    ``zombie``, has exited and waits to be reaped)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z" and not zombie:
        return None
    return int(fields[19])


def _pgrp(pid: int) -> tuple[int, int] | None:
    try:
        fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[2]), int(fields[19])


def boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessMark:
    """A process group as journaled when its step started."""

    pgid: int
    start: int
    host: str
    boot: str

    @classmethod
    def of(cls, pid: int) -> ProcessMark | None:
        ticks = start_ticks(pid, zombie=True)
        if ticks is None:
            return None
        return cls(pid, ticks, socket.gethostname(), boot_id())

    @classmethod
    def from_data(cls, data: Any) -> ProcessMark | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(int(data["pgid"]), int(data["start"]), str(data["host"]), str(data["boot"]))
        except (KeyError, TypeError, ValueError):
            return None

    def data(self) -> dict[str, Any]:
        return {"pgid": self.pgid, "start": self.start, "host": self.host, "boot": self.boot}

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname() and self.boot == boot_id()

    def members(self) -> list[int]:
        """Live processes of this very group (empty if gone, elsewhere, or the pgid reused)."""
        if not self.local:
            return []
        leader = _pgrp(self.pgid)
        if leader is not None and leader[0] == self.pgid and leader[1] != self.start:
            return []
        out = []
        for entry in _PROC.iterdir():
            if not entry.name.isdigit():
                continue
            info = _pgrp(int(entry.name))
            if info is not None and info[0] == self.pgid and info[1] >= self.start:
                out.append(int(entry.name))
        return out

    def alive(self) -> bool:
        return bool(self.members())

    def describe(self) -> str:
        return f"process group {self.pgid} on {self.host}"

    def kill(self, grace: float = 3.0, sleep: Callable[[float], None] = time.sleep) -> bool:
        """SIGTERM then SIGKILL this group (only if it is still the same group); True when
        nothing of it is left."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if not self.alive():
                return True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
            waited = 0.0
            while waited < wait and self.alive():
                sleep(0.02)
                waited += 0.02
        return not self.alive()

    def wait(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait up to ``timeout`` seconds for the group to end; True if it did."""
        waited = 0.0
        while self.alive():
            if waited >= timeout:
                return False
            sleep(0.05)
            waited += 0.05
        return True


def owner_tag(pid: int | None = None) -> str:
    """``PID.START`` for lease owners: a pid alone could be a different, recycled process."""
    pid = pid or os.getpid()
    return f"{pid}.{start_ticks(pid) or 0}"


def owner_dead(owner: str) -> bool:
    """A lease owner ``user@host:PID[.START]`` on this host whose process is gone (or whose pid
    now belongs to another process) cannot renew: treat its lease as expired."""
    try:
        who, tag = owner.rsplit(":", 1)
        host = who.split("@", 1)[1]
        pid_text, _, start_text = tag.partition(".")
        pid = int(pid_text)
    except (ValueError, IndexError):
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    ticks = start_ticks(pid)
    if ticks is None:
        return True
    return bool(start_text) and start_text != "0" and int(start_text) != ticks
