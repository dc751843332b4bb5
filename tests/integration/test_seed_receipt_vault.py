"""Seed 001 (Receipt Vault Pro), ``examples/seeds/receipt-vault``, released by the real CLI
against AWS in moto's server mode: an RDS snapshot before every release, blue-green by the
ALB listener's target group weights, the validation chain, and the bake watched by the 5xx
alarm. v1 and v2 go out (exit 0, approved by a second person); v3 meets the alarm in ALARM and
its "quick rollback" holds: the listener is back on v2's group at 100% (exit 1), a snapshot
was taken before each release, and ``rollback --wait`` puts v1 back with no approval.
(Staging has an ALB of its own; this copy releases production only, outside its window.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.moto_server import Moto, aws_environ, running_moto
from tests.support.receipt_aws import bound, receipt_vault, seed_edit, weights
from tests.support.seeds import open_seed

pytestmark = pytest.mark.slow


@pytest.fixture
def aws() -> Iterator[tuple[Moto, dict[str, str]]]:
    with running_moto() as moto:
        arns = receipt_vault(
            moto,
            balancer="receipt-vault-production-alb",
            database="receipt-vault-production",
            alarm="receipt-vault-production-5xx",
        )
        yield moto, {**arns, "aws_endpoint": moto.url}


def _on(moto: Moto, listener: str, groups: dict[str, str]) -> dict[str, int]:
    colours = {arn: colour for colour, arn in groups.items()}
    return {colours[arn]: w for arn, w in weights(moto, listener).items() if w}


def test_receipt_vault_blue_green_on_the_alb_and_the_quick_rollback(
    aws: tuple[Moto, dict[str, str]],
    tmp_path: Path,
    state_dir: Path,
    free_port: Callable[[], int],
) -> None:
    moto, names = aws
    groups = {"blue": names["blue"], "green": names["green"]}

    edit = seed_edit(names)
    with open_seed(
        "receipt-vault", state_dir, free_port, env=aws_environ(tmp_path), edit=edit
    ) as seed:
        assert seed.run("lint", str(seed.book)).returncode == 0
        for version in ("v1", "v2"):
            done = seed.deploy(version)
            assert done.returncode == 0, done.stdout + done.stderr
        live = _on(moto, names["listener"], groups)
        assert len(live) == 1
        assert bound(moto, groups[next(iter(live))]) == "v2"

        moto.client("cloudwatch").set_alarm_state(
            AlarmName="receipt-vault-production-5xx", StateValue="ALARM", StateReason="5xx > 5"
        )
        bad = seed.deploy("v3")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        live = _on(moto, names["listener"], groups)
        assert list(live.values()) == [100]
        assert bound(moto, groups[next(iter(live))]) == "v2"
        snapshots = moto.client("rds").describe_db_snapshots(SnapshotType="manual")
        assert len(snapshots["DBSnapshots"]) == 3, "a snapshot before every release"

        moto.client("cloudwatch").set_alarm_state(
            AlarmName="receipt-vault-production-5xx", StateValue="OK", StateReason="quiet"
        )
        back = seed.run("rollback", "-e", "production", "--wait")
        assert back.returncode == 0, back.stdout + back.stderr
        live = _on(moto, names["listener"], groups)
        assert bound(moto, groups[next(iter(live))]) == "v1"
