"""Worker processes for team-scale tests: ``runwright worker`` on a shared PostgreSQL store,
started, paused, resumed and killed like a real fleet's, and the store read back directly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import ROOT, cli_command, cli_environ

BOOK = str(ROOT / "tests" / "fixtures" / "runbooks" / "team.yaml")


@dataclass
class Fleet:
    """Workers ``w0``, ``w1``... sharing one store; each logs to ``logs/NAME.log``."""

    state_dir: Path
    url: str
    ttl: float
    logs: Path
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    starts: int = 0

    def env(self, user: str) -> dict[str, str]:
        return cli_environ(
            self.state_dir,
            RUNWRIGHT_DATABASE_URL=self.url,
            RUNWRIGHT_LEASE_TTL=str(self.ttl),
            RUNWRIGHT_USER=user,
        )

    def start(self, name: str, poll: float = 0.2) -> subprocess.Popen[str]:
        self.starts += 1
        log = (self.logs / f"{name}.log").open("a")
        proc = subprocess.Popen(
            [*cli_command(), "worker", "--poll", str(poll)],
            env=self.env(name), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        log.close()
        self.procs[name] = proc
        return proc

    def cli(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_command(), *args], env=self.env(user), cwd=ROOT, capture_output=True,
            text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def signal(self, name: str, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.procs[name].pid, sig)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


def wait_for(what: str, ok: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
