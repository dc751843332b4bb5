"""A release lab: the demo service released by the real ``runwright`` CLI behind a real router.

A ``Lab`` owns one state directory, one runbook for ``python -m runwright.demo`` (strategy and
router of the test's choosing) and the addresses of its router. Every process the lab's
releases start carries a marker in its environment (``RELEASE_LAB``), which is how a test
finds *all* the service's processes, including any the pid files no longer mention (an
orphan). Load comes from ``python -m runwright.loadgen`` in a second process. ``open_lab``
kills everything at the end, even when the test failed, and then checks that nothing of the
service is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, RunCli, cli_command, cli_environ, cli_in

MARKER = "RELEASE_LAB"
SERVICE = "shop-local"
ENV = "local"
ROUTERS = [
    "builtin",
    pytest.param(
        "haproxy",
        marks=[
            pytest.mark.haproxy,
            pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed"),
        ],
    ),
]


def runbook(
    *,
    router: str,
    strategy: str,
    listen: str,
    admin: str,
    mark: str,
    weights: list[int] | None = None,
    pause: str = "0.3s",
    bake: str = "0.3s",
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
        "bake": bake,
        "keep_previous": "0s",
    }
    if strategy == "canary":
        release.update(weights=weights or [10, 50, 100], pause=pause)
    return {
        "name": "shop",
        "vars": {"python": sys.executable},
        "environments": {ENV: {}},
        "service": {
            "command": "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}",
            "health": "/health",
            "env": {MARKER: mark},
            "start_timeout": "20s",
            "stop_timeout": "5s",
            "router": {"kind": router, "listen": listen, "admin": admin},
        },
        "release": release,
    }


# -- processes ---------------------------------------------------------------------------------


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent to reap it does not)."""
    return _state(pid) not in (None, "Z", "X", "x")


def marked(mark: str) -> set[int]:
    """Every live process whose environment carries ``RELEASE_LAB=mark``."""
    needle = f"{MARKER}={mark}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def version_at(listen: str) -> str:
    """The version that answers ``GET /version`` at ``listen`` (host:port) on a new connection."""
    with urllib.request.urlopen(f"http://{listen}/version", timeout=5) as answer:
        return str(json.loads(answer.read())["version"])


def pgid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[2])


def _reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    if any(p is not None and not p.closed for p in (proc.stdout, proc.stderr)):
        proc.communicate()
    proc.wait()


def router_pids(base: Path) -> list[int]:
    """The pids that the built-in routers' and HAProxy's state files below ``base`` name."""
    pids: list[int] = []
    for path in base.glob("**/router/*.json"):
        with contextlib.suppress(ValueError, KeyError, OSError, TypeError):
            pids.append(int(json.loads(path.read_text())["pid"]))
    for path in base.glob("**/haproxy/*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pids.extend(int(p) for p in path.read_text().split())
    return pids


def kill_everything(
    owned: list[subprocess.Popen[str]], pids: Iterable[int], left: Callable[[], set[int]]
) -> None:
    """SIGKILL ``owned`` and ``pids`` first (nothing here can fail), reap ``owned``, then wait
    up to 5 s for ``left()`` (the marked processes) to be gone."""
    for pid in [*(p.pid for p in owned if p.poll() is None), *pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for proc in owned:
        _reap(proc)
    deadline = time.monotonic() + 5
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)


def cli_json(cli: RunCli, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """What ``runwright ARGS --json`` prints, once it exited 0."""
    done = cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


# -- load from a second process ------------------------------------------------------------------


class Load:
    """``python -m runwright.loadgen`` on keep-alive connections until ``stop()`` (SIGTERM)."""

    def __init__(self, url: str, connections: int = 4) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runwright.loadgen", url, "--duration", "600"]
            + ["--connections", str(connections), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        )

    def stop(self) -> dict[str, Any]:
        """End the load; what it saw: requests, failures, errors, versions (by X-Version)."""
        assert self.process.poll() is None, self.process.communicate()
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        result: dict[str, Any] = json.loads(out)
        return result


def start_load(url: str, loads: list[Load]) -> Load:
    """Load on ``url`` from a second process, kept in ``loads`` for the teardown."""
    load = Load(url)
    loads.append(load)
    time.sleep(0.5)  # the second process imports and connects
    assert load.process.poll() is None, load.process.communicate()
    return load


# -- the lab -----------------------------------------------------------------------------------


@dataclass
class Lab:
    state_dir: Path
    router: str
    listen: str
    admin: str
    mark: str
    path: Path
    cli: RunCli
    loads: list[Load] = field(default_factory=list)
    children: list[subprocess.Popen[str]] = field(default_factory=list)

    def deploy(self, version: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.cli("deploy", str(self.path), "-e", ENV, "--version", version, env=env)

    def deployed(self, version: str) -> None:
        done = self.deploy(version)
        assert done.returncode == 0, done.stdout + done.stderr

    def start_deploy(self, version: str) -> subprocess.Popen[str]:
        """``runwright deploy`` in the background, for a test that acts while it runs."""
        proc = subprocess.Popen(
            [*cli_command(), "deploy", str(self.path), "-e", ENV, "--version", version],
            env=cli_environ(self.state_dir),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.children.append(proc)
        return proc

    def load(self) -> Load:
        """Start load through the router from a second process."""
        return start_load(f"http://{self.listen}/version", self.loads)

    def json(self, *args: str) -> Any:
        return cli_json(self.cli, *args)

    def history(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.json("history")
        return runs

    def served(self, requests: int = 50) -> Counter[str]:
        """Which versions answer through the router, each request on a fresh connection."""
        return Counter(version_at(self.listen) for _ in range(requests))

    def instances(self) -> list[dict[str, Any]]:
        """The local driver's pid-file records of the versions it runs."""
        folder = self.state_dir / "services" / SERVICE
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def versions_running(self) -> dict[str, int]:
        """version -> pid, from the pid files, checked against the kernel."""
        found = {r["version"]: int(r["pid"]) for r in self.instances()}
        assert all(alive(pid) for pid in found.values()), found
        return found

    def service_processes(self) -> set[int]:
        return marked(self.mark)

    def assert_only(self, version: str) -> None:
        """Only ``version`` runs: one pid file, and every process of the service is its."""
        records = self.instances()
        assert [r["version"] for r in records] == [version], records
        assert alive(int(records[0]["pid"]))
        group = int(records[0]["pgid"])
        strays = {p for p in self.service_processes() if pgid_of(p) != group}
        assert not strays, f"processes of the service outside {version}: {strays}"
        if self.router == "builtin":
            routed = [(b["name"], b["weight"]) for b in self.router_status()["backends"]]
            assert routed == [(version, 100)], "the router still lists a stopped version"

    def router_status(self) -> Any:
        """The builtin router's own account of its backends (its admin API)."""
        return self.router_admin("/status")

    def router_admin(self, path: str) -> Any:
        """GET ``path`` of the builtin router's admin API, with its token."""
        token_file = self.state_dir / "routers" / SERVICE / "router" / "admin.token"
        request = urllib.request.Request(
            f"http://{self.admin}{path}",
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    def teardown(self) -> None:
        """SIGKILL everything first (nothing here can fail), then collect what is left."""
        owned = [p.process for p in self.loads] + self.children
        routers = router_pids(self.state_dir / "routers" / SERVICE)
        kill_everything(owned, [*self.service_processes(), *routers], self.service_processes)


@contextlib.contextmanager
def open_lab(
    state_dir: Path, free_port: Callable[[], int], router: str, strategy: str, **knobs: Any
) -> Iterator[Lab]:
    """A lab whose processes are all gone when the block ends, whatever happened in it."""
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    mark = uuid.uuid4().hex
    path = state_dir / "shop.yaml"
    book = runbook(router=router, strategy=strategy, listen=listen, admin=admin, mark=mark, **knobs)
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    lab = Lab(state_dir, router, listen, admin, mark, path, cli_in(state_dir))
    try:
        yield lab
    finally:
        lab.teardown()
    assert not lab.service_processes(), "a process of the service outlived the test"
