"""A Kubernetes release lab: ``examples/k8s-release.yaml`` released by the real CLI against
the fake API server of ``kubeapi``.

``open_kube_lab`` serves a fake cluster with the namespace ``shop`` and the objects users
reach the shop through (Service, Ingress and HTTPRoute ``shop``), writes a kubeconfig
pointing at it, and copies the example (with its Deployment template) into the test's
directory, where ``lab.runbook(strategy=..., router=...)`` writes the variant a test needs.
The CLI finds the cluster through ``KUBECONFIG``, as a user's would.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, RunCli, cli_command, cli_environ, cli_in
from tests.support.kubeapi import FakeKube, serve

NS = "shop"
ENV = "production"
SERVICE = "shop-production"
VERSION_LABEL = "runwright.dev/version"
EXAMPLE = ROOT / "examples" / "k8s-release.yaml"


def seed(fake: FakeKube) -> None:
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    backend = {"service": {"name": "shop", "port": {"number": 80}}}
    fake.put(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                        },
                    }
                ],
            },
        }
    )
    fake.put(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {
                "parentRefs": [{"name": "public"}],
                "hostnames": ["shop.example.com"],
                "rules": [{"backendRefs": [{"name": "shop", "port": 80}]}],
            },
        }
    )


@dataclass
class KubeLab:
    fake: FakeKube
    directory: Path
    state_dir: Path
    kubeconfig: Path
    cli: RunCli

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def runbook(self, name: str = "shop.yaml", **changes: Any) -> Path:
        """The example with ``changes`` applied: ``strategy``/``weights``/``pause`` go into
        ``release``, ``router`` replaces ``service.router``, ``driver`` updates the driver."""
        book = yaml.safe_load(EXAMPLE.read_text())
        for key in ("strategy", "weights", "pause"):
            if key in changes:
                book["release"][key] = changes[key]
        if "router" in changes:
            book["service"]["router"] = changes["router"]
        book["service"]["driver"].update(changes.get("driver", {}))
        path = self.directory / name
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        return path

    def deploy(self, path: Path, version: str) -> subprocess.CompletedProcess[str]:
        return self.cli("deploy", str(path), "-e", ENV, "--version", version, env=self.env)

    def deployed(self, path: Path, version: str) -> None:
        done = self.deploy(path, version)
        assert done.returncode == 0, done.stdout + done.stderr

    def start_deploy(self, path: Path, version: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*cli_command(), "deploy", str(path), "-e", ENV, "--version", version],
            env=cli_environ(self.state_dir, **self.env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def json(self, *args: str) -> Any:
        done = self.cli(*args, "--json", env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    # what the cluster says ----------------------------------------------------------------------

    def deployments(self) -> dict[str, int]:
        """Deployment name -> spec.replicas, for the service's Deployments."""
        return {
            d["metadata"]["name"]: d["spec"].get("replicas", 1)
            for d in self.fake.all("deployments", NS)
            if d["metadata"]["name"].startswith(SERVICE)
        }

    def selector(self) -> dict[str, str]:
        svc = self.fake.get("services", NS, "shop")
        assert svc is not None
        return dict(svc["spec"]["selector"])

    def ingress(self, name: str = "shop") -> dict[str, Any] | None:
        return self.fake.get("ingresses", NS, name)

    def route_refs(self) -> list[tuple[str, int]]:
        route = self.fake.get("httproutes", NS, "shop")
        assert route is not None
        return [(r["name"], r.get("weight", 1)) for r in route["spec"]["rules"][0]["backendRefs"]]

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", NS, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )


def ingress_service(ingress: dict[str, Any] | None) -> str | None:
    if ingress is None:
        return None
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    return str(paths[0]["backend"]["service"]["name"])


def canary_weight(ingress: dict[str, Any] | None) -> str | None:
    if ingress is None:
        return None
    notes = ingress["metadata"].get("annotations") or {}
    value = notes.get("nginx.ingress.kubernetes.io/canary-weight")
    return None if value is None else str(value)


@contextlib.contextmanager
def open_kube_lab(directory: Path, state_dir: Path) -> Iterator[KubeLab]:
    if shutil.which("kubectl") is None:
        raise AssertionError("kubectl is not installed: the independent client of these tests")
    fake = FakeKube(namespaces={"default", NS})
    with serve(fake):
        seed(fake)
        (directory / "k8s").mkdir(exist_ok=True)
        shutil.copy(ROOT / "examples" / "k8s" / "shop-deployment.yaml", directory / "k8s")
        kubeconfig = fake.kubeconfig(directory / "kubeconfig", NS, context="shop-cluster")
        yield KubeLab(fake, directory, state_dir, kubeconfig, cli_in(state_dir))
