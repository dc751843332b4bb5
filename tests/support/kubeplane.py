"""A real Kubernetes control plane for the tests: ``scripts/kube-up`` once per test process.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulated nodes) start
on first use and stop when the process ends (``scripts/kube-down``; the plane also stops
itself if this process dies, through kube-up's ``RUNWRIGHT_KUBE_PARENT``). Under xdist each
worker has its own plane; tests share it and keep apart by namespace (``Admin.namespace``
makes a fresh one). Cold start is a few seconds; a namespace is milliseconds.

Without the binaries: under ``CI=true`` kube-up builds them (scripts/setup normally has);
elsewhere, on a machine with Go they are built too, and on one without Go the real-plane
tests are skipped with how to get them (``unavailable``).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

SCRIPTS = ROOT / "scripts"
START_TIMEOUT = 3600  # a cold build of the binaries included (27 min on a loaded 2-core machine)


@dataclass(frozen=True)
class Plane:
    """A running plane: its directory, the admin kubeconfig, and how to reach it."""

    directory: Path
    kubeconfig: Path
    version: str
    server: str
    ca: Path
    token: str
    kubectl: str


def bin_dir() -> Path:
    done = subprocess.run(
        [str(SCRIPTS / "kube-build"), "--print"], capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip())


def _has_go() -> bool:
    return shutil.which("go") is not None or Path("/usr/local/go/bin/go").exists()


def _built() -> bool:
    return subprocess.run([str(SCRIPTS / "kube-build"), "--check"]).returncode == 0


def unavailable() -> str | None:
    """Why no plane can start here (outside CI: the tests then skip), or None."""
    if _built() or _has_go():
        return None
    return (
        "no Kubernetes control plane: its binaries are not built and there is no Go to build "
        "them; install Go 1.24+ and run scripts/kube-build, or set KUBEBUILDER_ASSETS to a "
        "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok"
    )


def ensure_built() -> None:
    """Build the binaries now if they are missing (a build inside a test would outlast the
    test's timeout); an AssertionError if they cannot be built."""
    if _built():
        return
    print("kubeplane: building the Kubernetes control plane (scripts/kube-build)", flush=True)
    done = subprocess.run([str(SCRIPTS / "kube-build")], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"scripts/kube-build failed ({done.returncode}):\n{done.stderr}")


def release() -> str:
    """The Kubernetes release the plane runs (the built kube-apiserver's own --version)."""
    apiserver = bin_dir() / "kube-apiserver"
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / "kube-apiserver").exists():
        apiserver = Path(assets) / "kube-apiserver"
    if not apiserver.exists():
        return "not built yet (scripts/kube-build)"
    done = subprocess.run([str(apiserver), "--version"], capture_output=True, text=True)
    return f"{done.stdout.strip()} ({apiserver})"


def start(directory: Path) -> Plane:
    env = {**os.environ, "RUNWRIGHT_KUBE_DIR": str(directory)}
    env["RUNWRIGHT_KUBE_PARENT"] = str(os.getpid())
    done = subprocess.run(
        [str(SCRIPTS / "kube-up")],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise AssertionError(f"scripts/kube-up failed ({done.returncode}):\n{done.stderr}")
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("export ")
    )
    kubeconfig = Path(values["KUBECONFIG"])
    config = yaml.safe_load(kubeconfig.read_text())
    return Plane(
        directory=Path(values["KUBE_DIR"]),
        kubeconfig=kubeconfig,
        version=values["KUBERNETES_VERSION"],
        server=config["clusters"][0]["cluster"]["server"],
        ca=Path(config["clusters"][0]["cluster"]["certificate-authority"]),
        token=config["users"][0]["user"]["token"],
        kubectl=kubectl(),
    )


def kubectl() -> str:
    """kubectl of the plane's release when built, else the one on PATH."""
    built = bin_dir() / "kubectl"
    return str(built) if built.exists() else (shutil.which("kubectl") or "kubectl")


def stop(plane: Plane) -> None:
    subprocess.run(
        [str(SCRIPTS / "kube-down"), str(plane.directory)], capture_output=True, timeout=60
    )


_lock = threading.Lock()
_plane: Plane | None = None


def shared() -> Plane:
    """This process's plane, started on first use and stopped when the process exits."""
    global _plane
    with _lock:
        if _plane is None:
            base = Path(os.environ.get("TMPDIR", "/tmp"))
            _plane = start(base / f"runwright-kube-{os.getpid()}-{uuid.uuid4().hex[:6]}")
            atexit.register(stop, _plane)
        return _plane


def shared_or_skip() -> Plane:
    """This process's plane; outside CI, a skip (saying how to get the binaries) when it
    cannot be built here. In CI nothing skips: a plane that cannot start fails the test."""
    reason = unavailable()
    if reason is not None and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        import pytest

        pytest.skip(reason)
    return shared()


def running() -> Plane | None:
    return _plane


def shutdown() -> None:
    global _plane
    with _lock:
        if _plane is not None:
            stop(_plane)
            _plane = None


class ApiError(Exception):
    def __init__(self, code: int, body: str) -> None:
        super().__init__(f"{code}: {body}")
        self.code = code
        self.body = body


class Rest:
    """Plain REST calls to the API server as one identity (urllib, the plane's CA)."""

    def __init__(self, server: str, ca: Path, token: str) -> None:
        self.server = server
        self.token = token
        self.context = ssl.create_default_context(cafile=str(ca))

    def call(
        self,
        verb: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=verb)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")) from None

    def get(self, path: str) -> Any:
        try:
            return self.call("GET", path)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise
