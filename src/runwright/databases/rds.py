"""Amazon RDS as a database kind: manual DB snapshots, proven by a scratch restore.

A runbook names the instance as ``rds://INSTANCE`` with optional query settings:
``region``, ``profile``, ``endpoint_url`` and ``swap`` (``rename``, the default, or
``ssm:/PARAMETER/NAME``). A backup is a manual snapshot, waited for until available; the
catalog keeps ``snapshot.json`` (its identifier and ARN) with the usual ``backup.json``, so
retention, ``backups list`` and ``restore`` work as for the other kinds. Verification restores
the snapshot into a scratch instance, waits until it is available, and deletes it again.

A restore never overwrites the live instance: the snapshot is restored into a new instance,
and then the application is pointed at it, as the runbook says: ``swap=rename`` renames the
live instance away (``INSTANCE-before-TIMESTAMP``, kept) and the new one to ``INSTANCE``, so
the endpoint name the application uses stays the same; ``swap=ssm:/shop/db-host`` writes the
new instance's endpoint address into that SSM parameter instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from runwright.aws.session import AwsSettings, call, rds, ssm
from runwright.databases.base import BackupInfo, VerifyResult, write_metadata
from runwright.engine.clock import Clock
from runwright.errors import DriverError, InputError

SNAPSHOT_FILE = "snapshot.json"


@dataclass(frozen=True)
class RdsSettings:
    instance: str
    aws: AwsSettings
    target: str = ""
    swap: str = "rename"
    poll: float = 5.0
    timeout: float = 3600.0


def parse_target(target: str) -> RdsSettings:
    """``rds://INSTANCE?region=..&endpoint_url=..&swap=..`` as settings."""
    parts = urlsplit(target.strip())
    if parts.scheme != "rds" or not parts.netloc:
        raise InputError(
            f"cannot read the RDS database {target!r}",
            hint="write rds://INSTANCE-IDENTIFIER (query: region, profile, endpoint_url, swap)",
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"region", "profile", "endpoint_url", "swap", "poll"})
    if unknown:
        raise InputError(f"unknown RDS setting {unknown[0]!r} in {target!r}")
    swap = query.get("swap", "rename")
    if swap != "rename" and not swap.startswith("ssm:/"):
        raise InputError(
            f"unknown swap {swap!r} for RDS", hint="use swap=rename or swap=ssm:/PARAMETER"
        )
    aws = AwsSettings(query.get("region"), query.get("profile"), query.get("endpoint_url"))
    return RdsSettings(parts.netloc, aws, target.strip(), swap, float(query.get("poll", 5.0)))


class RdsDatabase:
    def __init__(self, settings: RdsSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._rds: Any = None

    @property
    def name(self) -> str:
        return self.settings.instance

    def _client(self) -> Any:
        if self._rds is None:
            self._rds = rds(self.settings.aws)
        return self._rds

    async def _until(
        self, what: str, read: Any, ready: str, *, fail: frozenset[str]
    ) -> dict[str, Any]:
        """Poll ``read()`` until its status is ``ready``; DriverError on a failed status."""
        deadline = self.clock.monotonic() + self.settings.timeout
        while True:
            item: dict[str, Any] = await read()
            status = str(item.get("Status") or item.get("DBInstanceStatus") or "")
            if status == ready:
                return item
            if status in fail:
                raise DriverError(f"{what} is {status}", retryable=False)
            if self.clock.monotonic() > deadline:
                raise DriverError(f"{what} is still {status} after {self.settings.timeout:g}s")
            await self.clock.sleep(self.settings.poll)

    async def _snapshot(self, snapshot_id: str) -> dict[str, Any]:
        answer = await call(
            f"RDS DescribeDBSnapshots {snapshot_id}",
            self._client().describe_db_snapshots,
            DBSnapshotIdentifier=snapshot_id,
        )
        snapshot: dict[str, Any] = answer["DBSnapshots"][0]
        return snapshot

    async def _instance(self, instance: str) -> dict[str, Any]:
        answer = await call(
            f"RDS DescribeDBInstances {instance}",
            self._client().describe_db_instances,
            DBInstanceIdentifier=instance,
        )
        found: dict[str, Any] = answer["DBInstances"][0]
        return found

    async def backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        stamp = self.clock.now().strftime("%Y%m%d%H%M%S")
        snapshot_id = f"runwright-{self.name}-{stamp}"[:255]
        await call(
            f"RDS CreateDBSnapshot of {self.name}",
            self._client().create_db_snapshot,
            DBSnapshotIdentifier=snapshot_id,
            DBInstanceIdentifier=self.name,
            Tags=[{"Key": "runwright:run", "Value": run_id}],
        )
        snapshot = await self._until(
            f"snapshot {snapshot_id}",
            lambda: self._snapshot(snapshot_id),
            "available",
            fail=frozenset({"failed", "deleted"}),  # not a status
        )
        record = {
            "snapshot": snapshot_id,
            "arn": snapshot.get("DBSnapshotArn", ""),
            "instance": self.name,
            "engine": snapshot.get("Engine", ""),
            "allocated_storage_gb": snapshot.get("AllocatedStorage", 0),
        }
        path = dest_dir / SNAPSHOT_FILE
        data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
        path.write_bytes(data)
        info = BackupInfo(
            backup_id=dest_dir.name,
            engine="rds",
            database=self.name,
            source=self.settings.target or f"rds://{self.name}",
            path=path,
            size_bytes=int(record["allocated_storage_gb"] or 0) * 1024**3,
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=self.clock.now(),
            run_id=run_id,
            row_counts={},
            notes=(f"RDS snapshot {snapshot_id}",),
        )
        write_metadata(info)
        return info

    @staticmethod
    def snapshot_of(info: BackupInfo) -> str:
        try:
            return str(json.loads(info.path.read_text(encoding="utf-8"))["snapshot"])
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{info.path} does not name an RDS snapshot: {exc}") from None

    async def _restore_into(self, snapshot_id: str, instance: str) -> dict[str, Any]:
        await call(
            f"RDS RestoreDBInstanceFromDBSnapshot {snapshot_id} -> {instance}",
            self._client().restore_db_instance_from_db_snapshot,
            DBInstanceIdentifier=instance,
            DBSnapshotIdentifier=snapshot_id,
        )
        return await self._until(
            f"instance {instance}",
            lambda: self._instance(instance),
            "available",
            fail=frozenset({"failed", "incompatible-restore", "storage-full"}),  # not a status
        )

    async def _delete_instance(self, instance: str) -> None:
        await call(
            f"RDS DeleteDBInstance {instance}",
            self._client().delete_db_instance,
            DBInstanceIdentifier=instance,
            SkipFinalSnapshot=True,
        )

    async def verify(self, info: BackupInfo) -> VerifyResult:
        differences: list[str] = []
        snapshot_id = self.snapshot_of(info)
        if hashlib.sha256(info.path.read_bytes()).hexdigest() != info.sha256:
            differences.append(f"{info.path.name} changed since the backup was taken")
        scratch = f"{snapshot_id}-verify"[:63]
        try:
            snapshot = await self._snapshot(snapshot_id)
            if snapshot.get("Status") != "available":
                differences.append(f"snapshot {snapshot_id} is {snapshot.get('Status')}")
            else:
                await self._restore_into(snapshot_id, scratch)
                await self._delete_instance(scratch)
        except DriverError as exc:
            differences.append(f"snapshot {snapshot_id} did not restore: {exc.message}")
        return VerifyResult(
            ok=not differences,
            backup_id=info.backup_id,
            checked_at=self.clock.now(),
            differences=tuple(differences),
        )

    async def restore(self, info: BackupInfo) -> None:
        snapshot_id = self.snapshot_of(info)
        stamp = self.clock.now().strftime("%Y%m%d%H%M%S")
        fresh = f"{self.name}-restored-{stamp}"[:63]
        restored = await self._restore_into(snapshot_id, fresh)
        if self.settings.swap == "rename":
            await self._rename(self.name, f"{self.name}-before-{stamp}"[:63])
            await self._rename(fresh, self.name)
            return
        parameter = self.settings.swap.removeprefix("ssm:")
        address = str((restored.get("Endpoint") or {}).get("Address", ""))
        await call(
            f"SSM PutParameter {parameter}",
            ssm(self.settings.aws).put_parameter,
            Name=parameter,
            Value=address,
            Type="String",
            Overwrite=True,
        )

    async def _rename(self, old: str, new: str) -> None:
        await call(
            f"RDS rename {old} -> {new}",
            self._client().modify_db_instance,
            DBInstanceIdentifier=old,
            NewDBInstanceIdentifier=new,
            ApplyImmediately=True,
        )
        await self._until(
            f"instance {new}", lambda: self._instance(new), "available", fail=frozenset()
        )

    async def discard(self, info: BackupInfo) -> None:
        """Delete the snapshot behind ``info`` (retention calls this before removing it)."""
        snapshot_id = self.snapshot_of(info)
        await call(
            f"RDS DeleteDBSnapshot {snapshot_id}",
            self._client().delete_db_snapshot,
            DBSnapshotIdentifier=snapshot_id,
        )

    async def row_counts(self) -> dict[str, int]:
        return {}
