"""Emergency rollback: the time from ``runwright rollback -e production --wait`` to traffic
restored, per seed example (the bar: seconds, no gate in the way by default; the seeds
promise "< 5 minutes" by hand).

For each seed example (ai-shield, case-management and lexiscan, on a throwaway
PostgreSQL) it releases v1 and v2 through their gates and approvals, as the seed tests do,
then starts the rollback and polls every service's public address every 5 ms: the time to
restored is when the last of them answers v1. It also reports when the command returned (the
rollback's remaining steps: retiring v2, the checks) and checks that it needed no approval.
receipt-vault runs against moto in server mode (its ALB listener's weights are the traffic).
legal-ai runs against the real Kubernetes control plane the tests use
(tests/support/kubeplane.py, the one ``scripts/kube-up`` starts; kwok's pods serve nothing,
so "restored" is the API Ingress on v1's Service with no canary weight and the frontend
Service's selector on v1) and a real Prometheus scraping a stand-in page of the series
ingress-nginx would export, healthy for every version, so the seed's rules pass; its
production environment does not require staging here (one plane, one namespace).

    .venv/bin/python benchmarks/emergency_rollback.py [--seeds ai-shield,lexiscan] [--repeat 3]
        [--timeline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import cli_command, cli_environ  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.seeds import Seed, open_seed  # noqa: E402

TIMELINE = False  # --timeline: print the rollback run's events with their times
SEEDS = ("ai-shield", "case-management", "lexiscan", "receipt-vault", "legal-ai")


def _short(book: dict[str, Any]) -> None:
    """The seeds' minutes cut to fractions of a second (as their tests do)."""
    for check in (book.get("checks") or {}).values():
        check["interval"] = "250ms"
        if "for" in check:
            check["for"] = "0.5s"
    for service in (book.get("services") or {}).values():
        release = service.get("release") or {}
        if release.get("bake"):
            release.update(bake="1s", keep_previous="0s")
    for phase in book.get("phases") or []:
        for step in phase.get("steps") or []:
            if "wait" in step:  # no users here to give the watch's metrics data
                step["wait"] = {"duration": "0.5s"}


def _edit(name: str, ports: dict[str, int]) -> Callable[[dict[str, Any]], None]:
    def edit(book: dict[str, Any]) -> None:
        _short(book)
        services = book.get("services") or {}
        for service in ("backend", "frontend"):  # the URLs the services and smoke tests call
            if "listen" in (services.get(service) or {}).get("router", {}):
                book["vars"][f"{service}_url"] = "http://" + services[service]["router"]["listen"]
        if name == "lexiscan":
            for env in ("staging", "production"):
                book["environments"][env]["vars"] = {
                    "backend_port": ports[f"{env}-backend"],
                    "frontend_port": ports[f"{env}-frontend"],
                }

    return edit


def _public(seed: Seed, name: str, ports: dict[str, int]) -> list[str]:
    if name == "lexiscan":
        return [f"127.0.0.1:{ports[f'production-{s}']}" for s in ("backend", "frontend")]
    return list(seed.listens.values())


def _on_alb(moto: Any, listener: str) -> str:
    """The version the listener sends all traffic to ("" while it is split)."""
    from tests.support import receipt_aws

    live = [arn for arn, weight in receipt_aws.weights(moto, listener).items() if weight]
    return receipt_aws.bound(moto, live[0]) if len(live) == 1 else ""


def _answers(seed: Seed, address: str) -> str:
    seed.listens["_probe"] = address
    try:
        return seed.version_at("_probe")
    except OSError:
        return ""


def _release(seed: Seed, name: str, version: str) -> None:
    if name == "lexiscan":
        done = seed.deploy(version, env="staging")
        assert done.returncode == 0, done.stdout + done.stderr
    done = seed.deploy(version)
    assert done.returncode == 0, done.stdout + done.stderr


def one_on_moto(work: Path) -> tuple[float, float]:
    """receipt-vault: seconds from the rollback command to the listener on v1, and to its end."""
    from tests.support import receipt_aws
    from tests.support.moto_server import aws_environ, running_moto

    state = work / "receipt-vault" / "state"
    state.mkdir(parents=True)
    with running_moto() as moto:
        arns = receipt_aws.receipt_vault(
            moto,
            balancer="receipt-vault-production-alb",
            database="receipt-vault-production",
            alarm="receipt-vault-production-5xx",
        )
        edit = receipt_aws.seed_edit({**arns, "aws_endpoint": moto.url})
        env = aws_environ(work)
        with open_seed("receipt-vault", state, postgres.free_port, env=env, edit=edit) as seed:
            for version in ("v1", "v2"):
                done = seed.deploy(version)
                assert done.returncode == 0, done.stdout + done.stderr
            assert _on_alb(moto, arns["listener"]) == "v2"
            return _timed(seed, lambda: _on_alb(moto, arns["listener"]) == "v1")


def _nginx_series(started: float) -> Callable[..., tuple[int, str, str]]:
    """The series ingress-nginx would export for legal-ai's versions: healthy, counting up
    (a 5xx series at zero, else the error rate's numerator has no data and the canary pauses
    for a person)."""

    def page(_path: str, _query: object) -> tuple[int, str, str]:
        total = int((time.monotonic() - started) * 40)
        lines = []
        for version in ("v1", "v2"):
            labels = (
                'namespace="legal-ai",ingress="legal-ai-api",'
                f'service="legal-ai-backend-production-{version}"'
            )
            lines += [
                f'nginx_ingress_controller_requests{{{labels},status="200"}} {total}',
                f'nginx_ingress_controller_requests{{{labels},status="500"}} 0',
                f'nginx_ingress_controller_request_duration_seconds_bucket{{{labels},le="0.1"}} '
                f"{total}",
                f'nginx_ingress_controller_request_duration_seconds_bucket{{{labels},le="+Inf"}} '
                f"{total}",
            ]
        return 200, "text/plain; version=0.0.4", "\n".join(lines) + "\n"

    return page


def _on_kube(tap: Any) -> str:
    """The version all of legal-ai's traffic goes to ("" while split or mixed)."""
    ingress = tap.objects.get(("ingresses", "legal-ai", "legal-ai-api")) or {}
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    canary = tap.objects.get(("ingresses", "legal-ai", "legal-ai-api-canary")) or {}
    annotations = canary.get("metadata", {}).get("annotations", {})
    weight = annotations.get("nginx.ingress.kubernetes.io/canary-weight", "0")
    service = tap.objects.get(("services", "legal-ai", "legal-ai-frontend")) or {}
    front = service.get("spec", {}).get("selector", {}).get("runwright.dev/version", "")
    version = str(backend).rsplit("-", 1)[-1]
    return version if weight == "0" and front == version else ""


def _legal_ai_objects(tap: Any) -> None:
    """What the seed's cluster holds before the first release: the frontend's Service and the
    API's Ingress (as the seed's test puts them)."""
    tap.put({"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "legal-ai-frontend", "namespace": "legal-ai"},
             "spec": {"selector": {"app": "legal-ai-frontend"},
                      "ports": [{"port": 80, "targetPort": 8080}]}})  # fmt: skip
    backend = {"service": {"name": "legal-ai-backend", "port": {"number": 80}}}
    rule = {
        "host": "api.legal-ai.example",
        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
    }
    tap.put({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "legal-ai-api", "namespace": "legal-ai"},
             "spec": {"ingressClassName": "nginx", "rules": [rule]}})  # fmt: skip


def one_on_kube(cluster: postgres.Cluster, work: Path) -> tuple[float, float]:
    """legal-ai: seconds from the rollback command to both services on v1, and to its end."""
    from tests.support.kubetap import open_namespaces
    from tests.support.prometheus import LocalServer, running_prometheus

    state = work / "legal-ai" / "state"
    state.mkdir(parents=True)
    cluster.psql("postgres", 'DROP DATABASE IF EXISTS "legal_ai_bench"')
    url = cluster.createdb("legal_ai_bench").replace("postgresql+psycopg://", "postgresql://")
    with open_namespaces("legal-ai") as tap, LocalServer() as page:
        _legal_ai_objects(tap)
        page.responder = _nginx_series(time.monotonic())
        with running_prometheus([f"127.0.0.1:{page.port}"]) as prom:

            def edit(book: dict[str, Any]) -> None:
                _short(book)
                book["vars"]["prometheus"] = prom.url
                book["environments"]["production"].pop("requires")
                book["services"]["backend"]["release"]["pause"] = "1s"
                book["services"]["frontend"]["release"]["keep_previous"] = "0s"
                for service in book["services"].values():
                    service["start_timeout"] = "20s"

            env = {"DATABASE_URL": url, "KUBECONFIG": str(tap.kubeconfig(work / "kc", "legal-ai"))}
            with open_seed("legal-ai", state, postgres.free_port, env=env, edit=edit) as seed:
                time.sleep(2.5)  # two scrapes: rate() has data
                for version in ("v1", "v2"):
                    done = seed.deploy(version)
                    assert done.returncode == 0, done.stdout + done.stderr
                assert _on_kube(tap) == "v2"
                return _timed(seed, lambda: _on_kube(tap) == "v1")


def _timed(seed: Seed, restored_now: Callable[[], bool]) -> tuple[float, float]:
    """Run ``rollback --wait``; seconds until ``restored_now()``, and until it ended."""
    started = time.monotonic()
    wall = datetime.now(UTC)
    command = subprocess.Popen(
        [*cli_command(), "rollback", "-e", "production", "--wait", "--json"],
        env=cli_environ(seed.state_dir, **seed.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    restored = None
    while restored is None:
        if restored_now():
            restored = time.monotonic() - started
        elif command.poll() is not None:
            break
        time.sleep(0.005)
    out, err = command.communicate(timeout=120)
    ended = time.monotonic() - started
    assert command.returncode == 0, out + err  # no approval, no gate in the way
    assert restored is not None, "traffic never came back to v1"
    if TIMELINE:
        _timeline(seed, int(json.loads(out)["id"]), wall, restored)
    return restored, ended


def _timeline(seed: Seed, run_id: int, wall: datetime, restored: float) -> None:
    """Where the rollback's time went: each step's start and end (from the run's events),
    in seconds after the command started."""
    found = json.loads(seed.run("logs", str(run_id), "--json").stdout)
    events = found["events"]
    first = wall
    print(f"rollback run {run_id}: traffic restored {restored:.2f} s after the command")
    for e in events:
        at = (datetime.fromisoformat(e["at"]) - first).total_seconds()
        print(f"  {at:7.2f} s  {e['type']:22} {e['step'] or ''}")


def one(name: str, cluster: postgres.Cluster, work: Path) -> tuple[float, float]:
    """Seconds from the rollback command to every service answering v1, and to its end."""
    state = work / name / "state"
    state.mkdir(parents=True)
    database = f"{name.replace('-', '_')}_bench"
    cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{database}"')
    url = cluster.createdb(database).replace("postgresql+psycopg://", "postgresql://")
    env = {"DATABASE_URL": url, "STATUS_API_URL": "http://127.0.0.1:9", "STATUS_API_KEY": "x",
           "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook",
           "N8N_WEBHOOK_URL": "http://127.0.0.1:9/n8n"}  # fmt: skip
    places = ("staging-backend", "staging-frontend", "production-backend", "production-frontend")
    ports = {k: postgres.free_port() for k in places}
    with open_seed(name, state, postgres.free_port, env=env, edit=_edit(name, ports)) as seed:
        for version in ("v1", "v2"):
            _release(seed, name, version)
        public = _public(seed, name, ports)
        assert all(_answers(seed, a) == "v2" for a in public)
        return _timed(seed, lambda: all(_answers(seed, a) == "v1" for a in public))


def _one(name: str, cluster: postgres.Cluster, work: Path) -> tuple[float, float]:
    if name == "receipt-vault":
        return one_on_moto(work)
    if name == "legal-ai":
        return one_on_kube(cluster, work)
    return one(name, cluster, work)


TIMELINE_HELP = "print each rollback run's events with their times (where the time goes)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=",".join(SEEDS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeline", action="store_true", help=TIMELINE_HELP)
    args = parser.parse_args()
    global TIMELINE
    TIMELINE = args.timeline
    with postgres.throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        try:
            _each(args, cluster, tmp)
        finally:
            from tests.support import kubeplane

            kubeplane.shutdown()


def _each(args: argparse.Namespace, cluster: postgres.Cluster, tmp: str) -> None:
    for name in args.seeds.split(","):
        runs = [_one(name, cluster, Path(tmp) / str(n)) for n in range(args.repeat)]
        restored = statistics.median(r for r, _ in runs)
        ended = statistics.median(e for _, e in runs)
        print(f"{name:16} command -> traffic restored {restored:6.2f} s (median of "
              f"{len(runs)}), command ended {ended:6.2f} s; no approval needed")  # fmt: skip


if __name__ == "__main__":
    main()
