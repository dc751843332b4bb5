"""Schema migrations that remember where they started, so a rollback knows where to go back to.

Hand-written runbooks run ``alembic upgrade head`` (or Prisma, Django, Flyway) and, when it goes
wrong, improvise. Here every migration states its rollback policy up front, shown by ``plan``:

    downgrade   run the migration tool backwards, to the revision recorded before it ran
    keep        leave the new schema (expand/contract: the old version runs against it)
    restore     put back the backup taken before the migration (the caller does that)

``AlembicMigration`` reads ``alembic_version`` before and after ``upgrade``, and ``undo``
downgrades to the revision it recorded. Alembic runs as a subprocess with the chosen Python
(the project's own environment, which imports its models), so its logging set-up and imports
never touch runwright's process; the database URL reaches it on stdin, never on a command
line, and is given both as ``sqlalchemy.url`` and as ``-x url=...`` so either ``env.py``
convention works. ``CommandMigration`` wraps any tool: an apply command, an optional
``current`` command whose last printed line is recorded, and an undo command in which
``{before}`` becomes that recorded state, shell-quoted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from runwright.databases.base import run_tool
from runwright.databases.postgres import redact_url
from runwright.engine.clock import Clock
from runwright.errors import DriverError, InputError

logger = logging.getLogger(__name__)

_BOOTSTRAP = """
import json, sys
from alembic.config import CommandLine, Config
request = json.loads(sys.stdin.read())
cli = CommandLine(prog="alembic")
argv = ["-c", request["ini"], "-x", "url=" + request["url"], *request["args"]]
options = cli.parser.parse_args(argv)
config = Config(file_=request["ini"], ini_section=options.name, cmd_opts=options)
config.set_main_option("sqlalchemy.url", request["url"].replace("%", "%%"))
cli.run_cmd(config, options)
"""


class RollbackPolicy(StrEnum):
    DOWNGRADE = "downgrade"
    KEEP = "keep"
    RESTORE = "restore"

    @classmethod
    def parse(cls, text: str) -> RollbackPolicy:
        try:
            return cls(text.strip().lower())
        except ValueError as exc:
            choices = ", ".join(p.value for p in cls)
            raise InputError(f"unknown rollback policy {text!r}; use one of {choices}") from exc


_POLICY_TEXT = {
    RollbackPolicy.DOWNGRADE: "downgrade to the revision recorded before the migration",
    RollbackPolicy.KEEP: "keep the new schema (the previous version must run against it)",
    RollbackPolicy.RESTORE: "restore the backup taken before the migration",
}


@dataclass(frozen=True)
class MigrationPlan:
    """What a migration will run and how it is rolled back; nothing here has been executed."""

    kind: str
    target: str
    apply: str
    rollback: RollbackPolicy
    undo: str | None = None

    def describe(self) -> list[str]:
        lines = [f"migrate ({self.kind}) to {self.target}: {self.apply}"]
        rollback = f"rollback: {self.rollback.value}, {_POLICY_TEXT[self.rollback]}"
        if self.rollback is RollbackPolicy.DOWNGRADE and self.undo:
            rollback += f": {self.undo}"
        lines.append(rollback)
        return lines


@dataclass(frozen=True)
class MigrationRecord:
    """A migration that ran: the state before and after, and what the tool printed."""

    kind: str
    before: str | None
    after: str | None
    rollback: RollbackPolicy
    started_at: datetime
    finished_at: datetime
    output: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after


@runtime_checkable
class Migration(Protocol):
    def plan(self) -> MigrationPlan:
        """The commands and the rollback policy, for ``plan`` and ``--dry-run``."""
        ...

    async def current(self) -> str | None:
        """The schema's state now (a revision), or None when none is recorded."""
        ...

    async def apply(self) -> MigrationRecord:
        """Record the state, migrate, record the new state; DriverError when the tool fails."""
        ...

    async def undo(self, record: MigrationRecord) -> None:
        """Go back to ``record.before`` with the tool (the ``downgrade`` policy)."""
        ...


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class AlembicSettings:
    """An Alembic project (its ini file) and the database it migrates.

    ``python`` is the interpreter that has Alembic and the project's models installed;
    ``cwd`` defaults to the ini file's directory (``script_location`` is relative to it).
    """

    ini: Path
    url: str
    target: str = "head"
    rollback: RollbackPolicy = RollbackPolicy.DOWNGRADE
    python: str = sys.executable
    cwd: Path | None = None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    timeout_seconds: float = 600.0


class AlembicMigration:
    kind = "alembic"

    def __init__(self, settings: AlembicSettings, clock: Clock) -> None:
        if not settings.ini.exists():
            raise InputError(f"the Alembic config {settings.ini} does not exist")
        self.settings = settings
        self._clock = clock

    def _command(self, *args: str) -> str:
        url = redact_url(self.settings.url)
        return shlex.join(["alembic", "-c", str(self.settings.ini), "-x", f"url={url}", *args])

    def plan(self) -> MigrationPlan:
        return MigrationPlan(
            kind=self.kind,
            target=self.settings.target,
            apply=self._command("upgrade", self.settings.target),
            rollback=self.settings.rollback,
            undo=self._command("downgrade", "<revision before>"),
        )

    async def current(self) -> str | None:
        return await asyncio.to_thread(self._read_version)

    async def apply(self) -> MigrationRecord:
        started = self._clock.now()
        before = await self.current()
        output = await self._alembic("upgrade", self.settings.target)
        after = await self.current()
        logger.info("alembic upgraded %s -> %s", before or "base", after or "base")
        return MigrationRecord(
            self.kind, before, after, self.settings.rollback, started, self._clock.now(), output
        )

    async def undo(self, record: MigrationRecord) -> None:
        if await self.current() == record.before:
            return
        await self._alembic("downgrade", record.before or "base")
        logger.info("alembic downgraded to %s", record.before or "base")

    async def downgrade(self, revision: str) -> str:
        """Downgrade to ``revision`` (a redeploy of an older version pinned to an older schema);
        returns what Alembic printed."""
        output = await self._alembic("downgrade", revision)
        logger.info("alembic downgraded to %s", revision)
        return output

    async def _alembic(self, *args: str) -> str:
        request = json.dumps(
            {"ini": str(self.settings.ini.resolve()), "url": self.settings.url, "args": args}
        )
        out = await run_tool(
            [self.settings.python, "-c", _BOOTSTRAP],
            what=f"alembic {' '.join(args)}",
            time_limit=self.settings.timeout_seconds,
            cwd=self.settings.cwd or self.settings.ini.resolve().parent,
            stdin=request.encode("utf-8"),
            clock=self._clock,
        )
        return _tail(out.stdout + out.stderr)

    def _read_version(self) -> str | None:
        where = redact_url(self.settings.url)
        try:
            engine = sa.create_engine(self.settings.url, poolclass=NullPool)
        except (ArgumentError, ImportError) as exc:
            raise InputError(f"cannot use database URL {where}: {exc}") from exc
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(
                    self.settings.version_table, schema=self.settings.version_table_schema
                ):
                    return None
                table = sa.table(
                    self.settings.version_table,
                    sa.column("version_num"),
                    schema=self.settings.version_table_schema,
                )
                rows = [str(r[0]) for r in conn.execute(sa.select(table.c.version_num))]
        except SQLAlchemyError as exc:
            raise DriverError(f"cannot read the Alembic revision of {where}: {exc}") from exc
        finally:
            engine.dispose()
        if len(rows) > 1:
            raise DriverError(
                f"{where} is at several Alembic heads ({', '.join(sorted(rows))})",
                retryable=False,
                hint="merge the heads (alembic merge) so a single revision can be recorded",
            )
        return rows[0] if rows else None


@dataclass(frozen=True)
class CommandMigrationSettings:
    """Any migration tool as shell commands (Prisma, Django, Flyway, a script).

    ``current`` prints the schema's state (its last line is recorded); ``undo`` may use
    ``{before}``. ``env`` None inherits runwright's environment, else it is the whole one.
    """

    apply: str
    undo: str | None = None
    current: str | None = None
    rollback: RollbackPolicy = RollbackPolicy.RESTORE
    tool: str = "command"
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    shell: str = "/bin/sh"
    timeout_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.rollback is RollbackPolicy.DOWNGRADE and not self.undo:
            raise InputError(
                f"the {self.tool} migration's rollback policy is downgrade but it has no undo",
                hint="give an undo command, or choose rollback: restore or keep",
            )
        if self.undo and "{before}" in self.undo and not self.current:
            raise InputError(
                f"the {self.tool} migration's undo uses {{before}} but nothing records it",
                hint="give a current command that prints the schema's state",
            )


class CommandMigration:
    def __init__(self, settings: CommandMigrationSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock

    @property
    def kind(self) -> str:
        return self.settings.tool

    def plan(self) -> MigrationPlan:
        return MigrationPlan(
            kind=self.kind,
            target="latest",
            apply=self.settings.apply,
            rollback=self.settings.rollback,
            undo=self.settings.undo,
        )

    async def current(self) -> str | None:
        if not self.settings.current:
            return None
        out = await self._shell(self.settings.current, "read the schema state")
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        return lines[-1] if lines else None

    async def apply(self) -> MigrationRecord:
        started = self._clock.now()
        before = await self.current()
        output = await self._shell(self.settings.apply, "migrate")
        after = await self.current()
        return MigrationRecord(
            self.kind,
            before,
            after,
            self.settings.rollback,
            started,
            self._clock.now(),
            _tail(output),
        )

    async def undo(self, record: MigrationRecord) -> None:
        if not self.settings.undo:
            raise InputError(f"the {self.kind} migration has no undo command")
        command = self.settings.undo.replace("{before}", shlex.quote(record.before or ""))
        await self._shell(command, "undo the migration")

    async def _shell(self, command: str, purpose: str) -> str:
        out = await run_tool(
            [self.settings.shell, "-c", command],
            what=f"{self.kind} ({purpose}: {command})",
            time_limit=self.settings.timeout_seconds,
            cwd=self.settings.cwd,
            env=self.settings.env,
            clock=self._clock,
        )
        return out.stdout + out.stderr
