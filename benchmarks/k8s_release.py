"""Kubernetes overhead: a blue-green release by runwright on a real control plane, against
the platform's own rollout of the same Deployment.

The bar (DESIGN.md): release time < 1 s over ``kubectl rollout status``. A plane of its own
(scripts/kube-up: kube-apiserver, controller-manager, scheduler, etcd, kwok's simulated nodes
that make pods Ready at once, so only the control plane's own work is timed). Each round:

- runwright: ``runwright deploy examples/k8s-release.yaml -e production --version vN`` (the
  CLI as a user runs it: verify the settings, create the version's Deployment and Service,
  wait until it is rolled out, switch the Service selector, retire the previous version);
- the platform: the same Deployment (the example's template, renamed, same image and
  labels) sent with ``kubectl apply`` and waited for with ``kubectl rollout status``.

and the same release once more in-process (``runwright.app.runs.runs.deploy`` on a ``Runtime``,
as benchmarks/step_overhead.py does), which leaves out the Python interpreter's start and
imports. Printed: the median of each, runwright's added time over the platform's rollout
(both ways), the CPU time each CLI release used (interpreter start, imports and the release:
wall times swing with the machine's load, CPU time much less), the start of the runwright CLI
alone (``runwright --version``), and the load average before and after.

    PYTHONPATH=src:. .venv/bin/python benchmarks/k8s_release.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tests.support import kubeplane
from tests.support.kubelab import ENV, EXAMPLE, seed
from tests.support.kubetap import TappedKube

from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings

BAR_S = 1.0
ROOT = Path(__file__).resolve().parents[1]
NS = "bench"


def runbook(workdir: Path) -> Path:
    book = yaml.safe_load(EXAMPLE.read_text())
    book["environments"][ENV].pop("approvals", None)
    book["service"]["driver"]["namespace"] = NS
    book["service"]["driver"]["template"] = str(ROOT / "examples" / "k8s" / "shop-deployment.yaml")
    path = workdir / "shop.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def plain_deployment(version: str) -> dict[str, object]:
    """The example's template as runwright sends it, under another name."""
    body = yaml.safe_load((ROOT / "examples" / "k8s" / "shop-deployment.yaml").read_text())
    labels = {"app": "shop", "bench": f"plain-{version}"}
    body["metadata"] = {"name": f"plain-{version}", "namespace": NS, "labels": labels}
    body["spec"]["selector"] = {"matchLabels": copy.deepcopy(labels)}
    body["spec"]["template"]["metadata"]["labels"] = copy.deepcopy(labels)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = (
        f"registry.example.com/shop:{version}"
    )
    return body


def children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k8s-bench-") as tmp:
        workdir = Path(tmp)
        print("load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        started = time.perf_counter()
        plane = kubeplane.start(workdir / "plane")
        print(f"plane {plane.version} ready in {time.perf_counter() - started:.1f} s")
        try:
            measure(plane, workdir, args.rounds)
        finally:
            kubeplane.stop(plane)
        print("load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def measure(plane: kubeplane.Plane, workdir: Path, rounds: int) -> None:
    admin = TappedKube(plane, aliases={"shop": NS})
    admin.admin.call("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    seed(admin)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
    env.update(
        KUBECONFIG=str(plane.kubeconfig),
        RUNWRIGHT_STATE_DIR=str(workdir / "state"),
        RUNWRIGHT_USER="bench",
        PYTHONPATH=str(ROOT / "src"),
    )
    runwright = [str(Path(sys.executable).with_name("runwright"))]
    book = runbook(workdir)
    deploy = [*runwright, "deploy", str(book), "-e", ENV, "--version"]
    kubectl = [plane.kubectl, "--kubeconfig", str(plane.kubeconfig), "-n", NS]
    timed([*deploy, "v0"], env)  # the first release: the Service moves onto runwright's labels
    rt = Runtime.open(Settings.from_environ(env, state_dir=str(workdir / "state"), user="bench"))
    ours, inside, theirs, start, cpu = [], [], [], [], []
    for n in range(1, rounds + 1):
        before = children_cpu()
        ours.append(timed([*deploy, f"v{n}"], env))
        cpu.append(children_cpu() - before)
        inside.append(in_process(rt, book, f"v{n}.1"))
        manifest = yaml.safe_dump(plain_deployment(f"v{n}"))
        apply = timed([*kubectl, "apply", "-f", "-"], env, manifest)
        status = [*kubectl, "rollout", "status", f"deployment/plain-v{n}", "--timeout=60s"]
        theirs.append(apply + timed(status, env))
        start.append(timed([*runwright, "--version"], env))
        print(
            f"  round {n}: runwright CLI {ours[-1]:.2f} s (CPU {cpu[-1]:.2f} s), "
            f"in-process {inside[-1]:.2f} s, "
            f"kubectl apply + rollout status {theirs[-1]:.2f} s"
        )
    rt.close()
    platform = statistics.median(theirs)
    print(f"kubectl apply + rollout status of the same Deployment: {platform:.2f} s (median)")
    for label, times in (("runwright deploy (CLI)", ours), ("in-process release", inside)):
        added = statistics.median(times) - platform
        verdict = "within the bar" if added < BAR_S else "OVER THE BAR"
        print(
            f"{label}: {statistics.median(times):.2f} s, added {added:.2f} s "
            f"(bar {BAR_S:.1f} s): {verdict}"
        )
    print(f"runwright deploy (CLI) CPU time: {statistics.median(cpu):.2f} s (median)")
    print(
        "runwright --version alone (interpreter start and imports): "
        f"{statistics.median(start):.2f} s"
    )


def in_process(rt: Runtime, book: Path, version: str) -> float:
    started = time.perf_counter()
    run = asyncio.run(runs.deploy(rt, book, ENV, version))
    elapsed = time.perf_counter() - started
    if run.status != "succeeded":
        sys.exit(f"the in-process release of {version} did not succeed: {run.status}")
    return elapsed


if __name__ == "__main__":
    main()
