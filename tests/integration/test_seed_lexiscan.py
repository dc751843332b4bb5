"""Seed 000 (LexiScan), ``examples/seeds/lexiscan``, released by the real CLI with the team's
own deploy and rollback scripts (each service a process on its port), staging first.

Staging gets v1 then v2 (checklists attested); v3's backend fails every request, so the
seed's integration tests fail and its "automatic rollback on deployment failure" holds: the
rollback script puts frontend and backend back on v2 (exit 1). ``rollback --to-revision 1
--dry-run`` shows the plan and changes nothing; ``rollback --to-revision 1`` puts v1 back
without a gate in the way. Production takes v1 (approved by a second person), and refuses a
version staging never ran (exit 3). The stakeholders' Slack channel hears of the rollback.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.receivers import failing_first, receiver
from tests.support.seeds import Seed, open_seed

pytestmark = pytest.mark.slow


def _fast(ports: dict[str, int]) -> Callable[[dict[str, Any]], None]:
    def edit(book: dict[str, Any]) -> None:
        for env in ("staging", "production"):
            book["environments"][env]["vars"] = {
                "backend_port": ports[f"{env}-backend"],
                "frontend_port": ports[f"{env}-frontend"],
            }
        for check in book["checks"].values():
            check.update(interval="250ms", **{"for": "0.5s"})
        watch = book["phases"][-1]["steps"][0]["wait"]
        watch["duration"] = "1s"

    return edit


@contextlib.contextmanager
def _users(*ports: int) -> Iterator[None]:
    """People using both environments' frontends the whole time (their metrics have data)."""
    stop = threading.Event()

    def use() -> None:
        while not stop.is_set():
            for port in ports:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            stop.wait(0.02)

    thread = threading.Thread(target=use, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _at(seed: Seed, port: int) -> str:
    seed.listens["probe"] = f"127.0.0.1:{port}"
    return seed.version_at("probe")


def test_lexiscan_staging_then_production_with_the_teams_scripts(
    state_dir: Path, free_port: Callable[[], int]
) -> None:
    names = ("staging-backend", "staging-frontend", "production-backend", "production-frontend")
    ports = {name: free_port() for name in names}
    users = _users(ports["staging-frontend"], ports["production-frontend"])
    with receiver(failing_first(0)) as slack:
        env = {"SLACK_WEBHOOK_URL": f"{slack.url}/hook"}
        with open_seed("lexiscan", state_dir, free_port, env=env, edit=_fast(ports)) as seed, users:
            _releases(seed, ports)
    told = b"\n".join(slack.bodies()).decode()
    assert "rolled back" in told
    assert "v3" in told


def _releases(seed: Seed, ports: dict[str, int]) -> None:
    assert seed.run("lint", str(seed.book)).returncode == 0
    for version in ("v1", "v2"):
        done = seed.deploy(version, env="staging")
        assert done.returncode == 0, done.stdout + done.stderr
    assert _at(seed, ports["staging-frontend"]) == "v2"

    bad = seed.deploy("v3", env="staging", var=("backend_args=--error-rate 1",))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "integration tests" in bad.stdout + bad.stderr
    assert _at(seed, ports["staging-backend"]) == "v2"
    assert _at(seed, ports["staging-frontend"]) == "v2"

    dry = seed.run("rollback", "-e", "staging", "--to-revision", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "deploy.sh backend v1" in dry.stdout
    assert "dry run: nothing was executed" in dry.stdout
    assert _at(seed, ports["staging-backend"]) == "v2"
    back = seed.run("rollback", "-e", "staging", "--to-revision", "1", "--json")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout)["status"] == "succeeded"
    assert _at(seed, ports["staging-backend"]) == "v1"
    assert _at(seed, ports["staging-frontend"]) == "v1"

    prod = seed.deploy("v1")
    assert prod.returncode == 0, prod.stdout + prod.stderr
    assert _at(seed, ports["production-frontend"]) == "v1"
    refused = seed.run("deploy", str(seed.book), "-e", "production", "--version", "v9")
    assert refused.returncode == 3
    assert "requires version v9 to have succeeded in staging first" in refused.stderr
