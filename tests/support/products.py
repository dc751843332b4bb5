"""A product lab: ``examples/product-release.yaml`` (backend, frontend, worker) released by the
real ``runwright`` CLI behind a real built-in router and a real HAProxy.

The example is taken as written, with what a test must change: free ports for both routers,
this interpreter, a marker in every service's environment (``RELEASE_LAB``) so a test finds
every process of the product, including orphans, and optionally a webhook sink. ``open_product``
kills everything at the end, even when the test failed, then checks nothing is left running.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, RunCli, cli_in
from tests.support.releases import (
    MARKER,
    Load,
    alive,
    cli_json,
    kill_everything,
    marked,
    router_pids,
    start_load,
)

EXAMPLE = ROOT / "examples" / "product-release.yaml"
ENV = "local"
SERVICES = ("backend", "frontend", "worker")


def product_runbook(
    ports: dict[str, int], mark: str, *, hook: str | None = None, example: Path = EXAMPLE
) -> dict[str, Any]:
    """The example with the lab's ports, interpreter, marker and (optional) webhook sink."""
    book: dict[str, Any] = yaml.safe_load(example.read_text())
    book["vars"]["python"] = sys.executable
    for name, spec in book["services"].items():
        spec["env"] = {MARKER: mark, "PYTHONPATH": str(ROOT / "src")}
        router = spec.get("router")
        if router is not None:
            router["listen"] = f"127.0.0.1:{ports[name]}"
            router["admin"] = f"127.0.0.1:{ports[name + '-admin']}"
    if hook is not None:
        book["sinks"] = {"hook": {"webhook": {"url": hook, "backoff": 0.05}}}
        book["notify"] = [{"to": "hook", "events": ["succeeded", "rolled_back"]}]
    return book


@dataclass
class Product:
    state_dir: Path
    path: Path
    mark: str
    ports: dict[str, int]
    cli: RunCli
    loads: list[Load] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def deploy(self, *versions: str, var: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        args = [a for v in versions for a in ("--version", v)]
        args += [a for v in var for a in ("--var", v)]
        return self.cli("deploy", str(self.path), "-e", ENV, *args, timeout=180)

    def deployed(self, *versions: str) -> None:
        done = self.deploy(*versions)
        assert done.returncode == 0, done.stdout + done.stderr

    def load(self, service: str, path: str) -> Load:
        return start_load(self.url(service) + path, self.loads)

    def json(self, *args: str) -> Any:
        return cli_json(self.cli, *args)

    def running(self, service: str) -> list[str]:
        """The versions of ``service`` the local driver runs (pid files checked against the
        kernel)."""
        folder = self.state_dir / "services" / f"product-release-{service}-{ENV}"
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        assert all(alive(int(r["pid"])) for r in records), records
        return sorted(r["version"] for r in records)

    def served(self, service: str, requests: int = 20) -> Counter[str]:
        """Which versions answer ``/version`` through the service's router."""
        out: Counter[str] = Counter()
        for _ in range(requests):
            with urllib.request.urlopen(self.url(service) + "/version", timeout=5) as answer:
                out[str(json.loads(answer.read())["version"])] += 1
        return out

    def home(self) -> str:
        """What a user gets from the frontend's home page (which calls the backend)."""
        with urllib.request.urlopen(self.url("frontend") + "/", timeout=5) as answer:
            return str(answer.read().decode())

    def processes(self) -> set[int]:
        return marked(self.mark)

    def teardown(self) -> None:
        owned = [p.process for p in self.loads]
        routers = router_pids(self.state_dir / "routers")
        kill_everything(owned, [*self.processes(), *routers], self.processes)


@contextlib.contextmanager
def open_product(
    state_dir: Path, free_port: Callable[[], int], *, hook: str | None = None
) -> Iterator[Product]:
    ports = {k: free_port() for k in ("backend", "backend-admin", "frontend", "frontend-admin")}
    mark = uuid.uuid4().hex
    path = state_dir / "product-release.yaml"
    book = product_runbook(ports, mark, hook=hook)
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    product = Product(state_dir, path, mark, ports, cli_in(state_dir))
    try:
        yield product
    finally:
        product.teardown()
    assert not product.processes(), "a process of the product outlived the test"
