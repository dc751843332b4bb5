"""A team lab for remote-mode tests: ``runwright serve --workers 1`` on PostgreSQL, its
admin commands on the server's side, and people's CLIs that only know the server's URL.

A person's CLI runs with a home of its own (config, state) and a ``sitecustomize`` that
installs an audit hook: importing a database driver (psycopg, sqlite3...), opening a SQLite
file, connecting to the database's port or opening a file named ``audit.key`` is written to
a log the test reads, so "the CLI never touched the database" is checked, not assumed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, cli_command, cli_environ
from tests.support.web import WebServer

GUARD = """\
import sys

_LOG = {log!r}
_PORT = {port}
_DRIVERS = {{"psycopg", "psycopg2", "psycopg_binary", "sqlite3", "_sqlite3", "asyncpg", "pg8000"}}


def _note(what):
    with open(_LOG, "a") as out:
        out.write(what + "\\n")


def _hook(event, args):
    if event == "import" and args[0].split(".")[0] in _DRIVERS:
        _note("import " + args[0])
    elif event == "sqlite3.connect":
        _note("sqlite3.connect " + str(args))
    elif event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == _PORT:
            _note("connect to the database port " + str(address))
    elif event == "open" and str(args[0]).endswith("audit.key"):
        _note("open " + str(args[0]))


sys.addaudithook(_hook)
"""


@dataclass
class Person:
    """One person's machine: a home with its config and state, and the CLI run from it."""

    name: str
    home: Path
    guard_log: Path
    extra: dict[str, str]

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
        guard_dir = self.home / "guard"
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_STATE_HOME=str(self.home / ".state"),
            PYTHONPATH=os.pathsep.join([str(guard_dir), str(ROOT / "src")]),
            CI="1",
            **self.extra,
        )
        env.update(more)
        return env

    def run(
        self, *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_command(), *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=self.env(**env),
            cwd=cwd or self.home,
            timeout=120,
        )

    def touched(self) -> list[str]:
        """What the audit hook saw: driver imports, database connections, audit keys."""
        return self.guard_log.read_text().splitlines() if self.guard_log.exists() else []


def person(root: Path, name: str, db_port: int, extra: Mapping[str, str] | None = None) -> Person:
    home = root / f"home-{name}"
    guard = home / "guard"
    guard.mkdir(parents=True)
    log = home / "guard.log"
    (guard / "sitecustomize.py").write_text(GUARD.format(log=str(log), port=db_port))
    return Person(name, home, log, dict(extra or {}))


@dataclass
class ServerSide:
    """The server's machine: the database URL and the state directory with its audit key."""

    web: WebServer
    database_url: str

    def env(self, user: str = "alice") -> dict[str, str]:
        return cli_environ(
            self.web.state_dir, RUNWRIGHT_DATABASE_URL=self.database_url, RUNWRIGHT_USER=user
        )

    def cli(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*cli_command(), *args],
            capture_output=True,
            text=True,
            env=self.env(user),
            cwd=ROOT,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return done

    def admin(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()
