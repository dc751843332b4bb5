"""Going back and getting back up: ``runwright rollback`` and a release killed mid-switch.

The demo service runs behind a real router with load from a second process throughout.
``rollback --dry-run`` must only print the plan: the same processes, the same traffic and the
same history afterwards. ``rollback`` must put the previous revision on 100% of traffic
without a failed request. A ``runwright deploy`` killed with SIGKILL during the switch (at a
journal point, or from outside while the router is moving traffic) and then resumed must end
with every request answered by one version, and no process of any other version alive.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.releases import ROUTERS, Lab, open_lab

pytestmark = pytest.mark.slow


@pytest.fixture
def lab_for(state_dir: Path, free_port: Callable[[], int]) -> Iterator[Callable[..., Lab]]:
    """``lab_for(router, strategy, **knobs)``; everything it started is gone at teardown."""
    with contextlib.ExitStack() as stack:

        def make(router: str, strategy: str, **knobs: Any) -> Lab:
            return stack.enter_context(open_lab(state_dir, free_port, router, strategy, **knobs))

        yield make


def router_table(lab: Lab) -> Any:
    """What the router routes by now, as its own admin interface reports it (builtin only)."""
    return lab.router_status()["backends"] if lab.router == "builtin" else None


@pytest.mark.parametrize("router", ROUTERS)
def test_rollback_dry_run_changes_nothing_and_rollback_serves_the_previous_revision(
    lab_for: Callable[..., Lab], router: str
) -> None:
    lab = lab_for(router, "blue_green")
    lab.deployed("v1")
    lab.deployed("v2")
    history = lab.history()
    processes = lab.service_processes()
    table = router_table(lab)

    dry = lab.cli("rollback", "-e", "local", "--dry-run")

    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Rollback of shop/local from v2 to revision 1 (v1)" in dry.stdout
    assert "set traffic: v1 100%, v2 0%" in dry.stdout
    assert "not executed" in dry.stdout
    assert "dry run: nothing was executed" in dry.stdout
    assert lab.history() == history
    assert lab.service_processes() == processes
    assert router_table(lab) == table
    assert lab.served() == {"v2": 50}
    lab.assert_only("v2")

    load = lab.load()
    done = lab.cli("rollback", "-e", "local")
    seen = load.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    assert seen["failures"] == 0, seen["errors"]
    assert seen["versions"].keys() == {"v1", "v2"}
    assert lab.served() == {"v1": 50}
    lab.assert_only("v1")
    latest, *earlier = lab.history()
    assert earlier == history
    assert (latest["kind"], latest["version"], latest["status"]) == ("rollback", "v1", "succeeded")
    assert latest["revision"] == 3


@pytest.mark.parametrize(("point", "meanwhile"), [("started", "v1"), ("after", "v2")])
def test_killed_at_the_switch_then_resumed_serves_one_version_and_leaks_nothing(
    lab_for: Callable[..., Lab], point: str, meanwhile: str
) -> None:
    lab = lab_for("builtin", "blue_green")
    lab.deployed("v1")
    load = lab.load()

    crashed = lab.deploy("v2", RUNWRIGHT_CRASH_AT=f"{point}:switch traffic")

    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    run_id = str(lab.history()[0]["id"])
    assert lab.json("status", run_id)["status"] == "running"
    assert lab.served() == {meanwhile: 50}
    assert lab.versions_running().keys() == {"v1", "v2"}

    resumed = lab.cli("resume", run_id)
    seen = load.stop()

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lab.json("status", run_id)["status"] == "succeeded"
    assert seen["failures"] == 0, seen["errors"]
    assert lab.served() == {"v2": 50}
    lab.assert_only("v2")


@pytest.mark.parametrize("router", ROUTERS)
def test_killed_from_outside_while_traffic_moves_then_resumed_ends_on_one_version(
    lab_for: Callable[..., Lab], router: str
) -> None:
    lab = lab_for(router, "blue_green")
    lab.deployed("v1")
    load = lab.load()
    deploy = lab.start_deploy("v2")

    deadline = time.monotonic() + 30
    while lab.served(1) != {"v2": 1}:
        assert deploy.poll() is None, deploy.communicate()[0]
        assert time.monotonic() < deadline, "traffic never started moving to v2"
    deploy.send_signal(signal.SIGKILL)
    deploy.communicate()

    run_id = str(lab.history()[0]["id"])
    status = lab.json("status", run_id)
    steps = {s["name"]: s["status"] for s in status["steps"]}
    assert status["status"] == "running"
    assert steps["switch traffic"] in ("running", "succeeded")
    assert steps["retire previous version"] == "pending"
    assert lab.served().keys() <= {"v1", "v2"}

    resumed = lab.cli("resume", run_id)
    seen = load.stop()

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lab.json("status", run_id)["status"] == "succeeded"
    assert seen["failures"] == 0, seen["errors"]
    assert lab.served() == {"v2": 50}
    lab.assert_only("v2")
