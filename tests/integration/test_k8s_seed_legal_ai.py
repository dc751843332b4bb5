"""Seed 002 (Legal AI), ``examples/seeds/legal-ai``, released by the real CLI against the real
Kubernetes control plane (``tests/support/kubeplane.py``), a real PostgreSQL (verified
backup, Alembic) and a real Prometheus.

The pods are kwok's, not processes, so the series ingress-nginx would export
stand in a local /metrics page that Prometheus scrapes: ``nginx_ingress_controller_requests``
and its latency histogram, labelled with the Service each version's requests went to (what
``{{ new_selector }}`` picks), counting up as traffic would. v1 and v2 go out to staging
(v2 as a canary 10/25/50/100 judged by the seed's rules on its own series; exit 0; this one
plane stands for the staging cluster). v3 (with migration 0003) fails half its
requests: the rule "error rate > 1%" fails at the first pause, and the seed's rollback holds:
the API Ingress back on v2 with no canary weight, the frontend's Service selector still on v2,
the schema back at 0002 with its data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.kubetap import TappedKube, open_namespaces
from tests.support.postgres import Cluster
from tests.support.prometheus import LocalServer, running_prometheus
from tests.support.seeds import open_seed

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
NS = "legal-ai"
VERSIONS = ("v1", "v2", "v3")
BACKEND = "legal-ai-backend-staging"  # each version's Service: BACKEND-VERSION


class Pods:
    """The series the versions' pods would export, counting up with time."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failing: dict[str, float] = {}
        self.lock = threading.Lock()

    def page(self, _path: str, _query: dict[str, list[str]]) -> tuple[int, str, str]:
        seconds = time.monotonic() - self.started
        lines = []
        for version in VERSIONS:
            total = int(seconds * 40)
            errors = int(total * self.failing.get(version, 0.0))
            labels = f'namespace="{NS}",ingress="legal-ai-api",service="{BACKEND}-{version}"'
            requests = "nginx_ingress_controller_requests"
            latency = "nginx_ingress_controller_request_duration_seconds_bucket"
            lines += [
                f'{requests}{{{labels},status="200"}} {total - errors}',
                f'{requests}{{{labels},status="500"}} {errors}',
                f'{latency}{{{labels},le="0.1"}} {total}',
                f'{latency}{{{labels},le="+Inf"}} {total}',
            ]
        return 200, "text/plain; version=0.0.4", "\n".join(lines) + "\n"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[TappedKube, Path]]:
    with open_namespaces(NS) as fake:
        fake.put({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "legal-ai-frontend", "namespace": NS},
                  "spec": {"selector": {"app": "legal-ai-frontend"},
                           "ports": [{"port": 80, "targetPort": 8080}]}})  # fmt: skip
        backend = {"service": {"name": "legal-ai-backend", "port": {"number": 80}}}
        rule = {
            "host": "api.legal-ai.example",
            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
        }
        fake.put({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                  "metadata": {"name": "legal-ai-api", "namespace": NS},
                  "spec": {"ingressClassName": "nginx", "rules": [rule]}})  # fmt: skip
        yield fake, fake.kubeconfig(tmp_path / "kubeconfig", NS)


def _fast(prometheus: str) -> Callable[[dict[str, Any]], None]:
    def edit(book: dict[str, Any]) -> None:
        book["vars"]["prometheus"] = prometheus
        for check in book["checks"].values():
            check.update(interval="250ms", **{"for": "0.5s"})
        backend = book["services"]["backend"]
        backend["release"]["pause"] = "1s"
        book["services"]["frontend"]["release"]["keep_previous"] = "0s"
        for service in book["services"].values():
            service["start_timeout"] = "20s"

    return edit


def _head(url: str) -> tuple[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            head = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
            rows = int(conn.execute(sa.text("SELECT count(*) FROM scans")).scalar() or 0)
    finally:
        engine.dispose()
    return head, rows


def _ingress(fake: TappedKube, name: str) -> dict[str, Any]:
    return fake.objects.get(("ingresses", NS, name)) or {}


def _backend_of(ingress: dict[str, Any]) -> str:
    return str(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])


def test_legal_ai_canary_by_prometheus_rules_and_its_rollback(
    pg_cluster: Cluster,
    kube: tuple[TappedKube, Path],
    state_dir: Path,
    free_port: Callable[[], int],
) -> None:
    fake, kubeconfig = kube
    pg_cluster.psql("postgres", 'DROP DATABASE IF EXISTS "legal_ai_seed"')
    url = pg_cluster.createdb("legal_ai_seed")
    env = {"DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
           "KUBECONFIG": str(kubeconfig)}  # fmt: skip
    pods = Pods()
    with LocalServer() as page:
        page.responder = pods.page
        with (
            running_prometheus([f"127.0.0.1:{page.port}"]) as prom,
            open_seed("legal-ai", state_dir, free_port, env=env, edit=_fast(prom.url)) as seed,
        ):
            assert seed.run("lint", str(seed.book)).returncode == 0
            versions = seed.dir / "db" / "migrations" / "versions"
            held = {p.name: p.read_text() for p in versions.glob("000[23]_*.py")}
            for name in held:
                (versions / name).unlink()
            time.sleep(2.5)  # two scrapes: rate() has data

            for version, ships in (("v1", None), ("v2", "0002_add_scan_status.py")):
                if ships:
                    (versions / ships).write_text(held[ships])
                done = seed.deploy(version, env="staging")
                assert done.returncode == 0, done.stdout + done.stderr
            assert _head(url) == ("0002", 0)
            live = _backend_of(_ingress(fake, "legal-ai-api"))
            assert live.endswith("-v2")
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO scans (project) VALUES ('matter-7')"))
            engine.dispose()

            (versions / "0003_create_findings.py").write_text(held["0003_create_findings.py"])
            pods.failing["v3"] = 0.5
            bad = seed.deploy("v3", env="staging")
            assert bad.returncode == 1, bad.stdout + bad.stderr
            assert "error-rate" in bad.stdout + bad.stderr
            ingress = _ingress(fake, "legal-ai-api")
            assert _backend_of(ingress) == live
            canary = _ingress(fake, "legal-ai-api-canary")
            weight = (
                canary.get("metadata", {})
                .get("annotations", {})
                .get("nginx.ingress.kubernetes.io/canary-weight", "0")
            )
            assert weight == "0"
            selector = fake.objects[("services", NS, "legal-ai-frontend")]["spec"]["selector"]
            assert selector.get("runwright.dev/version") == "v2"
            assert _head(url) == ("0002", 1)
