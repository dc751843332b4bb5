"""Zero-downtime releases as a user runs them: the real CLI, the demo service, real routers.

Each test writes a release runbook for the demo service (``python -m runwright.demo``), deploys
it with ``runwright deploy`` in a subprocess, and meanwhile a second process
(``python -m runwright.loadgen``) sends requests through the router and counts failures and
which version answered (the ``X-Version`` header). What a user would notice is asserted: no
failed request, the version the router serves at the end, processes of retired versions
gone, and (at teardown) nothing left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

ROUTERS = ["builtin", pytest.param("haproxy", marks=pytest.mark.haproxy)]
SERVICE = "shop-local"


def release_runbook(
    router: str, strategy: str, listen: str, admin: str, pause: str = "0.3s"
) -> dict[str, Any]:
    release: dict[str, Any] = {
        "strategy": strategy,
        "smoke": [
            {
                "name": "smoke: version",
                "http": {
                    "url": "{{ new_url }}/version",
                    "expect": {"json": {"$.version": "{{ version }}"}},
                },
            }
        ],
        "keep_previous": "0s",
    }
    if strategy == "canary":
        release.update(weights=[10, 50, 100], pause=pause)
    elif strategy == "blue_green":
        release["bake"] = "0.3s"
    return {
        "name": "shop",
        "vars": {"python": sys.executable},
        "environments": {"local": {}},
        "service": {
            "command": "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}",
            "health": "/health",
            "start_timeout": "20s",
            "stop_timeout": "5s",
            "router": {"kind": router, "listen": listen, "admin": admin},
        },
        "release": release,
    }


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def instances(state_dir: Path) -> list[dict[str, Any]]:
    """The local driver's pid-file records of the service's running versions."""
    folder = state_dir / "services" / SERVICE
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def router_pids(state_dir: Path) -> list[int]:
    pids = []
    for path in (state_dir / "routers").glob("*/router/*.json"):
        with contextlib.suppress(ValueError, KeyError, OSError):
            pids.append(int(json.loads(path.read_text())["pid"]))
    for path in (state_dir / "routers").glob("*/haproxy/haproxy.pid"):
        with contextlib.suppress(ValueError, OSError):
            pids.append(int(path.read_text().split()[0]))
    return pids


def served(listen: str, requests: int = 30) -> Counter[str]:
    """Which versions answer through the router, over fresh connections."""
    seen: Counter[str] = Counter()
    for _ in range(requests):
        with urllib.request.urlopen(f"http://{listen}/version", timeout=5) as resp:
            seen[json.loads(resp.read())["version"]] += 1
    return seen


class Load:
    """``runwright.loadgen`` in a second process, until told to stop (SIGTERM)."""

    def __init__(self, listen: str, connections: int = 4) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runwright.loadgen",
                f"http://{listen}/version",
                "--duration",
                "300",
                "--connections",
                str(connections),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(0.3)
        assert self.process.poll() is None, self.process.communicate()[1]

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@dataclass
class Shop:
    """One release set-up: its runbook on disk, router address, state directory and CLI."""

    path: Path
    listen: str
    state_dir: Path
    cli: RunCli
    loads: list[Load]

    def deploy(self, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.cli("deploy", str(self.path), "-e", "local", "--version", version, *extra)

    def load(self) -> Load:
        load = Load(self.listen)
        self.loads.append(load)
        return load


@pytest.fixture
def shop_for(
    state_dir: Path, run_cli: RunCli, free_port: Callable[[], int]
) -> Iterator[Callable[..., Shop]]:
    """``shop_for(router, strategy, pause="0.3s")``: a release set-up; every process its
    releases started dies at teardown."""
    made: list[Shop] = []

    def make(router: str, strategy: str, pause: str = "0.3s") -> Shop:
        listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        path = state_dir / "shop.yaml"
        path.write_text(yaml.safe_dump(release_runbook(router, strategy, listen, admin, pause)))
        shop = Shop(path, listen, state_dir, run_cli, [])
        made.append(shop)
        return shop

    yield make
    for shop in made:
        for load in shop.loads:
            load.kill()
    for record in instances(state_dir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(record["pgid"]), signal.SIGKILL)
    for pid in router_pids(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def assert_only(state_dir: Path, version: str) -> None:
    """Only ``version`` has a pid file, and every process ever recorded for others is gone."""
    records = instances(state_dir)
    assert {r["version"] for r in records} == {version}
    assert all(alive(int(r["pid"])) for r in records)


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("strategy", ["blue_green", "canary"])
def test_a_release_under_load_fails_no_request_and_leaves_only_the_new_version(
    shop_for: Callable[..., Shop], router: str, strategy: str
) -> None:
    shop = shop_for(router, strategy)
    first = shop.deploy("v1")
    assert first.returncode == 0, first.stdout + first.stderr
    v1_pids = [int(r["pid"]) for r in instances(shop.state_dir)]
    load = shop.load()
    second = shop.deploy("v2")
    result = load.stop()
    assert second.returncode == 0, second.stdout + second.stderr
    assert result["failures"] == 0, result
    assert result["requests"] > 200
    assert set(result["versions"]) == {"v1", "v2"}
    assert served(shop.listen) == {"v2": 30}
    assert_only(shop.state_dir, "v2")
    assert not any(alive(pid) for pid in v1_pids)


@pytest.mark.parametrize("router", ROUTERS)
def test_recreate_ends_on_the_new_version_with_nothing_left_behind(
    shop_for: Callable[..., Shop], router: str
) -> None:
    shop = shop_for(router, "recreate")
    assert shop.deploy("v1").returncode == 0
    v1_pids = [int(r["pid"]) for r in instances(shop.state_dir)]
    second = shop.deploy("v2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert served(shop.listen) == {"v2": 30}
    assert_only(shop.state_dir, "v2")
    assert not any(alive(pid) for pid in v1_pids)


@pytest.mark.parametrize("router", ROUTERS)
def test_a_canary_at_weight_10_gets_10_percent_of_10000_requests(
    shop_for: Callable[..., Shop], router: str
) -> None:
    shop = shop_for(router, "canary", pause="20s")
    assert shop.deploy("v1").returncode == 0
    traffic = shop.state_dir / "traffic" / f"{SERVICE}.json"
    deploy = subprocess.Popen(
        [*cli_command(), "deploy", str(shop.path), "-e", "local", "--version", "v2"],
        env=cli_environ(shop.state_dir),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while json.loads(traffic.read_text())["weights"] != {"v1": 90, "v2": 10}:
            assert deploy.poll() is None, deploy.communicate()[0]
            assert time.monotonic() < deadline, "the canary never reached 10%"
            time.sleep(0.05)
        out = subprocess.run(
            [sys.executable, "-m", "runwright.loadgen", f"http://{shop.listen}/version"]
            + ["--requests", "10000", "--connections", "4", "--json"],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
            timeout=60,
            check=True,
        )
        assert json.loads(traffic.read_text())["weights"] == {"v1": 90, "v2": 10}
    finally:
        deploy.kill()
        deploy.communicate()
    result = json.loads(out.stdout)
    assert result["requests"] == 10_000
    assert result["failures"] == 0
    share = result["versions"]["v2"] / 10_000
    assert 0.08 <= share <= 0.12, result["versions"]


def test_rollback_dry_run_changes_nothing_and_rollback_restores_the_previous_version(
    shop_for: Callable[..., Shop], run_cli: RunCli
) -> None:
    shop = shop_for("builtin", "blue_green")
    assert shop.deploy("v1").returncode == 0
    assert shop.deploy("v2").returncode == 0
    before_history = json.loads(run_cli("history", "--json").stdout)
    before_pids = {int(r["pid"]) for r in instances(shop.state_dir)}

    dry = run_cli("rollback", "-e", "local", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "v1" in dry.stdout
    assert "not executed" in dry.stdout
    assert json.loads(run_cli("history", "--json").stdout) == before_history
    assert {int(r["pid"]) for r in instances(shop.state_dir)} == before_pids
    assert served(shop.listen) == {"v2": 30}

    load = shop.load()
    done = run_cli("rollback", "-e", "local")
    result = load.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["failures"] == 0, result
    assert served(shop.listen) == {"v1": 30}
    assert_only(shop.state_dir, "v1")
    history = json.loads(run_cli("history", "--json").stdout)
    assert len(history) == len(before_history) + 1


@pytest.mark.parametrize("point", ["started", "after"])
def test_killed_mid_switch_then_resumed_serves_exactly_one_version_and_leaks_nothing(
    shop_for: Callable[..., Shop], run_cli: RunCli, point: str
) -> None:
    shop = shop_for("builtin", "blue_green")
    assert shop.deploy("v1").returncode == 0
    load = shop.load()
    crashed = run_cli(
        "deploy",
        str(shop.path),
        "-e",
        "local",
        "--version",
        "v2",
        env={"RUNWRIGHT_CRASH_AT": f"{point}:switch traffic"},
    )
    assert crashed.returncode == -signal.SIGKILL
    run_id = json.loads(run_cli("history", "--json").stdout)[0]["id"]
    assert served(shop.listen, 10).keys() <= {"v1", "v2"}

    resumed = run_cli("resume", str(run_id))
    result = load.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert result["failures"] == 0, result
    assert served(shop.listen) == {"v2": 30}
    assert_only(shop.state_dir, "v2")
    status = json.loads(run_cli("status", str(run_id), "--json").stdout)
    assert status["status"] == "succeeded"
