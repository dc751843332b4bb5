"""``examples/command-release.yaml``: versions run by the user's own scripts, released by
runwright behind its built-in router, under load from a second process.

The scripts (``examples/command/compose.sh``, a stand-in for a compose host) start each
version as a process of their own; runwright only calls them. Users must notice nothing:
no failed request during a blue-green or canary release, and a canary whose metrics go bad
(slow: its p95 latency breaches the check) is rolled back with every request answered and
the bad version's process gone.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT, cli_in
from tests.support.releases import ENV, Lab, Load

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "command-release.yaml"


def _runbook(directory: Path, listen: str, admin: str, mark: str, strategy: str) -> Path:
    book: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    book["name"] = "shop"  # the lab's service is shop-local
    book["vars"]["python"] = sys.executable
    book["service"]["env"] = {"RELEASE_LAB": mark}
    book["service"]["router"] = {"kind": "builtin", "listen": listen, "admin": admin}
    if strategy == "blue_green":
        book["release"] = {"strategy": "blue_green", "smoke": book["release"]["smoke"]}
    shutil.copytree(ROOT / "examples" / "command", directory / "command", dirs_exist_ok=True)
    path = directory / "shop.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


@pytest.fixture
def lab_for(
    tmp_path: Path, state_dir: Path, free_port: Callable[[], int]
) -> Iterator[Callable[[str], Lab]]:
    labs: list[Lab] = []

    def make(strategy: str) -> Lab:
        listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        mark = uuid.uuid4().hex
        path = _runbook(tmp_path, listen, admin, mark, strategy)
        lab = Lab(state_dir, "builtin", listen, admin, mark, path, cli_in(state_dir))
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.teardown()
        assert not lab.service_processes(), "a process of the service outlived the test"


def _load(lab: Lab) -> Load:
    """Load on ``/`` (what the example's error-rate check measures) from a second process."""
    load = Load(f"http://{lab.listen}/")
    lab.loads.append(load)
    time.sleep(0.5)  # the second process imports and connects
    assert load.process.poll() is None, load.process.communicate()
    return load


def _recorded(lab: Lab) -> list[str]:
    """The versions the scripts' own records say run (what `compose.sh list` prints)."""
    folder = lab.state_dir / "compose"
    return sorted(json.loads(p.read_text())["version"] for p in folder.glob("*.json"))


@pytest.mark.parametrize("strategy", ["blue_green", "canary"])
def test_a_release_by_scripts_fails_no_request(
    lab_for: Callable[[str], Lab], strategy: str
) -> None:
    lab = lab_for(strategy)
    lab.deployed("v1")
    first = lab.service_processes()
    load = _load(lab)
    second = lab.deploy("v2")
    seen = load.stop()

    assert second.returncode == 0, second.stdout + second.stderr
    assert seen["failures"] == 0, seen["errors"]
    assert seen["requests"] >= 200
    assert seen["versions"].keys() == {"v1", "v2"}
    assert lab.served() == {"v2": 50}
    assert _recorded(lab) == ["v2"]
    assert not first & lab.service_processes(), "v1's process outlived its retirement"


def test_a_canary_failing_its_analysis_is_rolled_back_without_a_failed_request(
    lab_for: Callable[[str], Lab],
) -> None:
    lab = lab_for("canary")
    lab.deployed("v1")
    load = _load(lab)
    bad = lab.cli(
        "deploy", str(lab.path), "-e", ENV, "--version", "v2", "--var", "faults=--latency-ms 300"
    )
    seen = load.stop()

    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert seen["failures"] == 0, seen["errors"]
    assert seen["versions"].get("v2", 0) > 0
    assert lab.served() == {"v1": 50}
    assert _recorded(lab) == ["v1"]
    run = lab.json("status", str(lab.json("history")[0]["id"]))
    assert run["status"] == "rolled_back"
    assert "latency-p95" in (run.get("failure") or "")
