"""A seed lab: one of ``examples/seeds/NAME/`` released by the real ``runwright`` CLI.

The example is copied as shipped, with only what a test must change: free ports for its
routers, this interpreter, ``identity: self_declared`` so a second test user may approve, a
marker in every process's environment (``RELEASE_LAB``) so every service the example's own
scripts start is found again, and the variables a test passes. ``deploy`` goes through the
gates a person would pass (approve as ``bob``, attest the checklists) and returns the end.
``open_seed`` kills everything at the end, even when the test failed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, RunCli, cli_in
from tests.support.releases import MARKER, kill_everything, marked, router_pids

SEEDS = ROOT / "examples" / "seeds"
APPROVERS = ("bob", "carol", "dave")


@dataclass
class Seed:
    dir: Path
    book: Path
    state_dir: Path
    mark: str
    env: dict[str, str]
    listens: dict[str, str] = field(default_factory=dict)

    @property
    def cli(self) -> RunCli:
        return cli_in(self.state_dir)

    def run(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, env=self.env, user=user)

    def deploy(
        self, version: str, *, env: str = "production", var: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Deploy as alice; bob (then carol...) approves, alice attests each checklist; the
        run's end."""
        flags = [f"--var={v}" for v in var]
        args = ["deploy", str(self.book), "-e", env, "--version", version, *flags, "--json"]
        done = self.run(*args)
        approvers = iter(APPROVERS)
        for _ in range(8):
            if done.returncode != 3:
                return done
            run_id = str(json.loads(done.stdout)["id"])
            status = json.loads(done.stdout)["status"]
            if status == "awaiting_approval":
                approved = self.run("approve", run_id, "--note", "ok", user=next(approvers))
                assert approved.returncode == 0, approved.stdout + approved.stderr
            else:
                attested = self.run("attest", run_id, "--all", "--note", "checked")
                assert attested.returncode == 0, attested.stdout + attested.stderr
            done = self.run("resume", run_id, "--json")
        return done

    def version_at(self, service: str) -> str:
        with urllib.request.urlopen(f"http://{self.listens[service]}/version", timeout=5) as a:
            return str(json.loads(a.read())["version"])

    def get(self, service: str, path: str = "/") -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.listens[service]}{path}", timeout=5) as a:
                return a.status, a.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def teardown(self) -> None:
        pids = [*marked(self.mark), *router_pids(self.state_dir / "routers")]
        kill_everything([], pids, lambda: marked(self.mark))


@contextlib.contextmanager
def open_seed(
    name: str,
    state_dir: Path,
    free_port: Callable[[], int],
    *,
    env: Mapping[str, str] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Seed]:
    """``examples/seeds/NAME`` copied under ``state_dir``, its routers on free ports."""
    work = state_dir.parent / name
    shutil.copytree(SEEDS / name, work)
    path = work / "runbook.yaml"
    book = yaml.safe_load(path.read_text())
    book.setdefault("vars", {})["python"] = sys.executable
    for environment in (book.get("environments") or {}).values():
        environment["identity"] = "self_declared"
    listens: dict[str, str] = {}
    services = book.get("services") or ({"service": book["service"]} if "service" in book else {})
    for service_name, service in services.items():
        router = service.get("router") or {}
        if router.get("kind", "builtin") in ("builtin", "haproxy") and "listen" in router:
            router["listen"] = listens[service_name] = f"127.0.0.1:{free_port()}"
            router["admin"] = f"127.0.0.1:{free_port()}"
    if edit is not None:
        edit(book)
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    mark = uuid.uuid4().hex
    seed = Seed(work, path, state_dir, mark, {MARKER: mark, **dict(env or {})}, listens)
    try:
        yield seed
    finally:
        seed.teardown()
