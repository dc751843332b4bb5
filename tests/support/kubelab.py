"""A Kubernetes release lab: ``examples/k8s-release.yaml`` released by the real CLI against
the real control plane of ``kubeplane`` (kube-apiserver, controller-manager, scheduler, etcd,
kwok's simulated nodes), seen through the recording tap of ``kubetap``.

``open_kube_lab`` makes a fresh namespace (``lab.ns``, e.g. ``shop-1a2b3c4d``) that every
client of the lab sees as ``shop`` (``NS``, the example's namespace: the tap renames it both
ways, so runbooks, plans and assertions say ``shop``). It holds the objects users reach the
shop through (Service, Ingress and HTTPRoute ``shop``) and the service account runwright runs
as, bound to exactly the Role that ``docs/drivers.md`` documents (``documented_role``). The
lab writes a kubeconfig with that account's token, pointing at the tap, and copies the example
(with its Deployment template) into the test's directory, where ``lab.runbook(strategy=...,
router=...)`` writes the variant a test needs. The CLI finds the cluster through
``KUBECONFIG``, as a user's would. Outside CI, a machine that cannot build the plane skips.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, RunCli, cli_command, cli_environ, cli_in
from tests.support import kubeplane, kubetap
from tests.support.kubeapi import FakeKube
from tests.support.kubeplane import Plane
from tests.support.kubetap import TappedKube
from tests.support.releases import cli_json

NS = "shop"
ENV = "production"
SERVICE = "shop-production"
VERSION_LABEL = "runwright.dev/version"
EXAMPLE = ROOT / "examples" / "k8s-release.yaml"
DRIVERS_DOC = ROOT / "docs" / "drivers.md"
ACCOUNT = "runwright"


def seed(fake: FakeKube | TappedKube) -> None:
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
    fake: TappedKube
    directory: Path
    state_dir: Path
    kubeconfig: Path
    cli: RunCli
    ns: str
    plane: Plane
    admin_kubeconfig: Path

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def runbook(self, name: str = "shop.yaml", **changes: Any) -> Path:
        """The example with ``changes`` applied: ``strategy``/``weights``/``pause`` go into
        ``release``, ``router`` replaces ``service.router``, ``driver`` updates the driver.
        The example's production approval is left out: these tests are about the cluster
        (approvals have their own tests), and a run waiting for a person would hide that."""
        book = yaml.safe_load(EXAMPLE.read_text())
        book["environments"][ENV].pop("approvals", None)
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
        return cli_json(self.cli, *args, env=self.env)

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
        """kubectl, an independent client, as the cluster's admin (through the tap)."""
        return subprocess.run(
            [self.plane.kubectl, "--kubeconfig", str(self.admin_kubeconfig), "-n", NS, *args],
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


def documented_role(namespace: str) -> dict[str, Any]:
    """The Role of ``docs/drivers.md`` (its ``kind: Role`` YAML block), in ``namespace``."""
    blocks = re.findall(r"```yaml\n(.*?)```", DRIVERS_DOC.read_text(), re.S)
    for block in blocks:
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == "Role":
            doc["metadata"]["namespace"] = namespace
            for rule in doc["rules"]:
                if rule.get("resources") == ["namespaces"]:
                    rule["resourceNames"] = [namespace]
            return doc
    raise AssertionError(f"{DRIVERS_DOC} has no Role")


def grant(admin: kubeplane.Rest, namespace: str, role: dict[str, Any]) -> str:
    """Make the service account ``runwright`` in ``namespace``, bound to ``role`` (replacing
    the Role if it exists), and return a token of it."""
    base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    if admin.get(f"{base}/{ACCOUNT}") is None:
        admin.call("POST", base, {"metadata": {"name": ACCOUNT}})
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    if admin.get(f"{rbac}/roles/{role['metadata']['name']}") is None:
        admin.call("POST", f"{rbac}/roles", role)
    else:
        admin.call("PUT", f"{rbac}/roles/{role['metadata']['name']}", role)
    binding = {
        "metadata": {"name": ACCOUNT},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
    }
    if admin.get(f"{rbac}/rolebindings/{ACCOUNT}") is None:
        admin.call("POST", f"{rbac}/rolebindings", binding)
    request = {"spec": {"expirationSeconds": 3600}}
    token = admin.call("POST", f"{base}/{ACCOUNT}/token", request)
    return str(token["status"]["token"])


@contextlib.contextmanager
def open_kube_lab(directory: Path, state_dir: Path) -> Iterator[KubeLab]:
    with kubetap.open_namespaces(NS) as tap:
        ns = tap.ns(NS)
        token = grant(tap.admin, ns, documented_role(ns))
        seed(tap)
        (directory / "k8s").mkdir(exist_ok=True)
        shutil.copy(ROOT / "examples" / "k8s" / "shop-deployment.yaml", directory / "k8s")
        kubeconfig = tap.kubeconfig(
            directory / "kubeconfig", NS, context="shop-cluster", token=token
        )
        admin = tap.kubeconfig(directory / "admin.kubeconfig", NS, context="admin")
        yield KubeLab(
            tap, directory, state_dir, kubeconfig, cli_in(state_dir), ns, tap.plane, admin
        )
