"""Releases of the demo service as a user runs them: ``runwright deploy`` behind a real router.

Load comes from a second process (``python -m runwright.loadgen``) on keep-alive connections
through the router for the whole release; it counts every failed request and which version
answered each one. Users must notice nothing with blue-green and canary: no failed request,
the new version answering at the end, and no process of the old version left anywhere.
Recreate has downtime by design, so only its end state is checked. A canary held at 10% gets
a tenth of the requests, counted by the answers and by the router.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ROOT
from tests.support.releases import ROUTERS, Lab, open_lab

pytestmark = pytest.mark.slow


@pytest.fixture
def lab_for(state_dir: Path, free_port: Callable[[], int]) -> Iterator[Callable[..., Lab]]:
    """``lab_for(router, strategy, **knobs)``; everything it started is gone at teardown."""
    with contextlib.ExitStack() as stack:

        def make(router: str, strategy: str, **knobs: Any) -> Lab:
            return stack.enter_context(open_lab(state_dir, free_port, router, strategy, **knobs))

        yield make


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("strategy", ["blue_green", "canary"])
def test_a_release_under_load_fails_no_request_and_leaves_only_the_new_version(
    lab_for: Callable[..., Lab], router: str, strategy: str
) -> None:
    lab = lab_for(router, strategy)
    lab.deployed("v1")
    old = lab.versions_running()["v1"]
    load = lab.load()
    second = lab.deploy("v2")
    seen = load.stop()

    assert second.returncode == 0, second.stdout + second.stderr
    assert seen["failures"] == 0, seen["errors"]
    assert seen["requests"] >= 500
    assert seen["versions"].keys() == {"v1", "v2"}
    assert lab.served() == {"v2": 50}
    lab.assert_only("v2")
    assert old not in lab.service_processes()


@pytest.mark.parametrize("router", ROUTERS)
def test_recreate_ends_on_the_new_version_with_nothing_of_the_old_left(
    lab_for: Callable[..., Lab], router: str
) -> None:
    lab = lab_for(router, "recreate")
    lab.deployed("v1")
    old = lab.versions_running()["v1"]
    load = lab.load()
    second = lab.deploy("v2")
    seen = load.stop()

    assert second.returncode == 0, second.stdout + second.stderr
    assert seen["versions"].get("v2", 0) > 0
    assert lab.served() == {"v2": 50}
    lab.assert_only("v2")
    assert old not in lab.service_processes()


def _step_status(lab: Lab, run_id: int, name: str) -> str:
    steps = lab.json("status", str(run_id))["steps"]
    return str(next(s["status"] for s in steps if s["name"] == name))


def _backend_requests(lab: Lab) -> dict[str, int]:
    """Requests per backend, as the builtin router's admin API counts them."""
    stats = lab.router_admin("/stats")
    return {b["name"]: int(b["requests"]) for b in stats["backends"]}


@pytest.mark.parametrize("router", ROUTERS)
def test_a_canary_at_weight_10_gets_10_percent_of_10000_requests(
    lab_for: Callable[..., Lab], router: str
) -> None:
    lab = lab_for(router, "canary", weights=[10, 100], pause="20s")
    lab.deployed("v1")
    deploy = lab.start_deploy("v2")
    run_id = 0
    deadline = time.monotonic() + 30
    while True:
        assert deploy.poll() is None, deploy.communicate()[0]
        assert time.monotonic() < deadline, "the canary never reached its pause at 10%"
        runs = lab.history()
        if runs and runs[0]["version"] == "v2":
            run_id = int(runs[0]["id"])
            if _step_status(lab, run_id, "pause at 10%") == "running":
                break
        time.sleep(0.1)
    before = _backend_requests(lab) if router == "builtin" else {}

    out = subprocess.run(
        [sys.executable, "-m", "runwright.loadgen", f"http://{lab.listen}/version"]
        + ["--requests", "10000", "--connections", "4", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert seen["requests"] == 10_000
    assert seen["failures"] == 0, seen["errors"]
    assert seen["versions"].keys() == {"v1", "v2"}
    share = seen["versions"]["v2"] / 10_000
    assert 0.08 <= share <= 0.12, seen["versions"]
    if router == "builtin":
        after = _backend_requests(lab)
        assert after["v2"] - before["v2"] == seen["versions"]["v2"]
        assert after["v1"] - before["v1"] == seen["versions"]["v1"]
    assert _step_status(lab, run_id, "pause at 10%") == "running"

    aborted = lab.cli("abort", str(run_id), "--reason", "seen enough")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    deploy.communicate(timeout=60)
    assert lab.json("status", str(run_id))["status"] == "aborted"
    assert lab.served() == {"v1": 50}
    lab.assert_only("v1")
