"""Where backups live, which ones to keep, and restoring without ever losing the present.

Backups are directories under one root, one folder per database:
``<root>/<database>/<YYYYmmddTHHMMSSZ>-<run>/`` holding the dump and ``backup.json``; the
directory name is the backup's id. The catalog lists and finds them again from those files
alone, so a backup taken by an earlier runwright (or another worker) is found the same way.

Retention is planned, then applied: ``plan_retention`` says what it would delete and why
each kept backup stays (among the newest N, newer than T, newest verified), so ``plan`` and
``--dry-run`` can show it. The newest backup that passed verification is never deleted, and
neither is the newest backup at all. Release backups and the safety backups restores take
are counted apart: keeping the newest N means N of each, so a few restores never push the
last good release backups out.

``restore_with_safety`` is the only restore a step should call: it always takes a fresh
safety backup of the live database first, so a restore that picked the wrong backup can be
undone with the one it returns.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from runwright.databases.base import (
    METADATA_NAME,
    BackupInfo,
    Database,
    VerifyResult,
    read_metadata,
    record_verification,
    write_metadata,
)
from runwright.engine.clock import Clock
from runwright.errors import InputError, RunwrightError

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` as a single, harmless path component."""
    return _UNSAFE.sub("-", text).strip("-.") or "unnamed"


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep the newest ``keep_last`` backups and/or those younger than ``max_age``.

    A backup is kept when any rule keeps it; with no rule at all everything is kept.
    """

    keep_last: int | None = None
    max_age: timedelta | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise InputError(f"keep_last must be at least 1, not {self.keep_last}")
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise InputError("max_age must be a positive duration")


@dataclass(frozen=True)
class RetentionPlan:
    """What retention would do: each kept backup with its reasons, and the ones to delete."""

    database: str
    keep: tuple[tuple[BackupInfo, tuple[str, ...]], ...]
    delete: tuple[BackupInfo, ...]

    def describe(self) -> list[str]:
        lines = [f"keep {info.backup_id}: {', '.join(why)}" for info, why in self.keep]
        lines += [f"delete {info.backup_id}" for info in self.delete]
        return lines


@dataclass(frozen=True)
class SafeRestore:
    """A restore that happened: the backup put back, and the safety backup taken just before."""

    safety: BackupInfo
    restored: BackupInfo


class BackupCatalog:
    """Backups under ``root``, one folder per database, newest first."""

    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self._clock = clock

    def new_directory(self, database: str, run_id: str) -> Path:
        """Create and return an empty directory for a new backup of ``database``."""
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%SZ")
        parent = self.root / safe_name(database)
        parent.mkdir(parents=True, exist_ok=True)
        base = f"{stamp}-{safe_name(run_id)}"
        for attempt in range(1, 1000):
            candidate = parent / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise InputError(f"too many backups named {base} in {parent}")

    async def backup(self, db: Database, run_id: str, *, kind: str = "backup") -> BackupInfo:
        """Back ``db`` up into a new directory; a failed backup leaves no directory behind."""
        directory = self.new_directory(db.name, run_id)
        try:
            info = await db.backup(directory, run_id)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        if kind != info.kind:
            info = replace(info, kind=kind)
            write_metadata(info)
        return info

    async def verify(self, db: Database, info: BackupInfo) -> tuple[BackupInfo, VerifyResult]:
        """Verify ``info`` and record the outcome in its ``backup.json``."""
        result = await db.verify(info)
        updated = record_verification(info, result)
        if result.ok:
            logger.info("%s", result.describe())
        else:
            logger.warning("%s", result.describe())
        return updated, result

    def backups(self, database: str | None = None) -> list[BackupInfo]:
        """Every readable backup (of ``database``, or of all), newest first."""
        if database is not None:
            parents = [self.root / safe_name(database)]
        else:
            parents = sorted(p for p in self.root.glob("*") if p.is_dir())
        found: list[BackupInfo] = []
        for parent in parents:
            for directory in sorted(parent.glob("*")):
                if not (directory / METADATA_NAME).exists():
                    continue
                try:
                    found.append(read_metadata(directory))
                except InputError as exc:
                    logger.warning("skipping %s: %s", directory, exc)
        found.sort(key=lambda i: (i.created_at, i.backup_id), reverse=True)
        return found

    def find(self, backup_id: str, database: str | None = None) -> BackupInfo:
        """The backup with this id; InputError naming the ids that exist when there is none."""
        backups = self.backups(database)
        for info in backups:
            if info.backup_id == backup_id:
                return info
        known = ", ".join(i.backup_id for i in backups[:5]) or "none"
        raise InputError(f"no backup {backup_id!r} in {self.root}", hint=f"newest backups: {known}")

    def latest(self, database: str, *, verified: bool = False) -> BackupInfo | None:
        """The newest backup of ``database`` (that passed verification, when asked)."""
        for info in self.backups(database):
            if info.kind == "backup" and (not verified or info.verified is True):
                return info
        return None

    def plan_retention(self, database: str, policy: RetentionPolicy) -> RetentionPlan:
        backups = self.backups(database)
        now = self._clock.now()
        newest_verified = next(
            (i for i in backups if i.verified is True and i.kind == "backup"), None
        )
        keep: list[tuple[BackupInfo, tuple[str, ...]]] = []
        delete: list[BackupInfo] = []
        no_rule = policy.keep_last is None and policy.max_age is None
        seen: dict[str, int] = {}
        for info in backups:
            position = seen.get(info.kind, 0)
            seen[info.kind] = position + 1
            plural = "backups" if info.kind == "backup" else f"{info.kind} backups"
            reasons: list[str] = []
            if no_rule:
                reasons.append("no retention rule")
            if position == 0:
                reasons.append("newest" if info.kind == "backup" else f"newest {info.kind}")
            if policy.keep_last is not None and position < policy.keep_last:
                reasons.append(f"among the newest {policy.keep_last} {plural}")
            if policy.max_age is not None and now - info.created_at < policy.max_age:
                reasons.append(f"younger than {policy.max_age}")
            if info is newest_verified:
                reasons.append("newest verified")
            if reasons:
                keep.append((info, tuple(reasons)))
            else:
                delete.append(info)
        return RetentionPlan(database, tuple(keep), tuple(delete))

    def apply_retention(self, plan: RetentionPlan) -> list[BackupInfo]:
        """Delete the backups ``plan`` lists; returns those deleted."""
        deleted: list[BackupInfo] = []
        root = self.root.resolve()
        for info in plan.delete:
            directory = info.directory.resolve()
            if root not in directory.parents:
                raise InputError(f"refusing to delete {directory}: it is outside {root}")
            shutil.rmtree(directory)
            logger.info("retention deleted backup %s of %s", info.backup_id, info.database)
            deleted.append(info)
        return deleted


async def restore_with_safety(
    db: Database, catalog: BackupCatalog, info: BackupInfo, run_id: str
) -> SafeRestore:
    """Take a safety backup of the live ``db``, then restore ``info`` into it.

    If the safety backup fails nothing is restored. If the restore fails, the error says
    where the safety backup is, so a person can put the present back.
    """
    if info.database != db.name:
        raise InputError(
            f"backup {info.backup_id} is of database {info.database}, not {db.name}; "
            "refusing to restore it here"
        )
    if info.verified is False:
        raise InputError(
            f"backup {info.backup_id} failed verification; refusing to restore it",
            hint="; ".join(info.verify_differences) or None,
        )
    safety = await catalog.backup(db, run_id, kind="safety")
    try:
        await db.restore(info)
    except RunwrightError as exc:
        exc.message += f" (the database before the restore is saved as {safety.backup_id})"
        exc.args = (exc.message,)
        raise
    return SafeRestore(safety=safety, restored=info)


def backup_root(state_dir: Path | None, directory: str | None) -> Path:
    if directory:
        return Path(directory).expanduser()
    if state_dir is None:
        raise InputError("no state directory to keep backups in", hint="give the step a dir:")
    return Path(state_dir) / "backups"
