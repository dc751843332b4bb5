"""``runwright plan`` of the Kubernetes example where no cluster can be read: on a laptop
with no kubeconfig at all, or with one whose API server does not answer. The plan still
shows every object and patch it would send, marked not executed, and says the cluster's
current state was not read; ``deploy`` in the same place is refused before it starts.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ROOT, cli_command, cli_environ

EXAMPLE = ROOT / "examples" / "k8s-release.yaml"
pytestmark = pytest.mark.slow  # two CLI runs each


def _runwright(
    state_dir: Path, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = cli_environ(state_dir, HOME=str(home), **env)
    if "KUBECONFIG" not in env:
        environ.pop("KUBECONFIG", None)
    return subprocess.run(
        [*cli_command(), *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _kubeconfig_of_a_closed_port(path: Path, port: int) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    return path


@pytest.mark.parametrize("where", ["kubeconfig-nowhere", "no-kubeconfig", "no-answer"])
def test_plan_without_a_cluster_prints_the_objects_and_says_the_state_was_not_read(
    tmp_path: Path, state_dir: Path, free_port: Callable[[], int], where: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env: dict[str, str] = {}
    if where == "kubeconfig-nowhere":
        env["KUBECONFIG"] = str(tmp_path / "nowhere" / "config")
        why = "does not exist"
    elif where == "no-answer":
        port = free_port()
        env["KUBECONFIG"] = str(_kubeconfig_of_a_closed_port(tmp_path / "config", port))
        why = "cannot reach the API server"
    else:
        why = "no kubeconfig given and runwright is not running in a pod"
    plan = ("plan", str(EXAMPLE), "-e", "production", "--version", "v2")
    shown = _runwright(state_dir, home, *plan, **env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = shown.stdout
    assert "Plan: shop v2 -> production (not executed)" in text
    assert "POST apps/v1 Deployment shop/shop-production-v2" in text
    assert "image: registry.example.com/shop:v2" in text
    assert "POST v1 Service shop/shop-production-v2 unless it exists" in text
    assert "PUT v1 Service shop/shop (with its resourceVersion)" in text
    assert re.search(r"\[service\] start new version .*-- not executed", text)
    assert "the cluster's current state was not read" in text
    assert why in text
    assert "Traceback" not in shown.stderr

    deploy = _runwright(state_dir, home, "deploy", *plan[1:], **env)
    assert deploy.returncode in (1, 2), deploy.stdout + deploy.stderr
    assert why in deploy.stderr
    assert "Traceback" not in deploy.stderr
