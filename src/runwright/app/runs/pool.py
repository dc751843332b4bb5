"""A supervised pool of ``runwright worker`` processes, for ``runwright serve --workers N``.

Each worker is its own process (a fenced worker must exit, and a stuck one must not hold the
server), started with the server's settings; one that exits (fenced out of a run, killed) is
started again by ``check``, which the server calls now and then; ``close`` stops them all.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from runwright.app.runtime.settings import Settings


class WorkerPool:
    def __init__(self, settings: Settings, size: int, *, poll: float = 1.0) -> None:
        self.settings = settings
        self.size = size
        self.poll = poll
        self.procs: list[subprocess.Popen[bytes]] = []
        self.restarts = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            RUNWRIGHT_DATABASE_URL=self.settings.database_url,
            RUNWRIGHT_STATE_DIR=str(self.settings.state_dir),
            RUNWRIGHT_LEASE_TTL=str(self.settings.lease_ttl),
        )
        return subprocess.Popen(
            [sys.executable, "-m", "runwright.cli.main", "worker", "--poll", str(self.poll)],
            env=env,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]

    def check(self) -> int:
        """Start again each worker that exited; how many were."""
        again = 0
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.procs[i] = self._spawn()
                again += 1
        self.restarts += again
        return again

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
