"""RDS as a database kind against moto in server mode: a snapshot per backup, verified by a
scratch restore, kept by retention, restored into a new instance that takes the old name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import RunCli
from tests.support.moto_server import Moto, aws_environ, running_moto


@pytest.fixture
def moto() -> Iterator[Moto]:
    with running_moto() as server:
        server.client("rds").create_db_instance(
            DBInstanceIdentifier="shop-db",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="shop",
            MasterUserPassword="not-a-real-one",
        )
        yield server


def _instances(moto: Moto) -> set[str]:
    found = moto.client("rds").describe_db_instances()["DBInstances"]
    return {i["DBInstanceIdentifier"] for i in found}


def _snapshots(moto: Moto) -> set[str]:
    found = moto.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"] for s in found}


@pytest.mark.slow
def test_rds_backup_verify_retention_and_restore(
    run_cli: RunCli, moto: Moto, tmp_path: Path
) -> None:
    env = aws_environ(tmp_path)
    target = f"rds://shop-db?endpoint_url={moto.url}&poll=0.1"

    first = run_cli("backup", target, "--json", env=env)
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)["backup"]
    assert info["verified"] is True
    snapshot = json.loads((Path(info["path"]) / "snapshot.json").read_text())["snapshot"]
    assert _snapshots(moto) == {snapshot}
    assert _instances(moto) == {"shop-db"}, "the scratch instance of the verification is gone"

    second = run_cli("backup", target, "--keep", "1", "--json", env=env)
    assert second.returncode == 0, second.stderr
    kept = json.loads(second.stdout)["backup"]
    kept_snapshot = json.loads((Path(kept["path"]) / "snapshot.json").read_text())["snapshot"]
    assert _snapshots(moto) == {kept_snapshot}, "retention deleted the older snapshot in RDS"
    listed = json.loads(run_cli("backups", "list", "--json", env=env).stdout)
    assert [b["backup_id"] for b in listed] == [kept["backup_id"]]

    restored = run_cli("restore", kept["backup_id"], "--yes", env=env)
    assert restored.returncode == 0, restored.stderr
    names = _instances(moto)
    assert "shop-db" in names
    before = [n for n in names if n.startswith("shop-db-before-")]
    assert len(before) == 1, names
    assert len(_snapshots(moto)) == 2, "a safety snapshot was taken before the restore"


def test_an_unknown_rds_instance_fails_the_backup_with_aws_reason(
    run_cli: RunCli, moto: Moto, tmp_path: Path
) -> None:
    result = run_cli(
        "backup", f"rds://nope?endpoint_url={moto.url}&poll=0.1", env=aws_environ(tmp_path)
    )
    assert result.returncode == 1
    assert "DBInstanceNotFound" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
