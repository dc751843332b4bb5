"""Several ``runwright worker`` processes on one PostgreSQL store: a worker paused past its
lease is taken over and, woken, gets its writes refused and never acts again; a lock whose
holder's lease lives cannot be broken, one whose lease expired can, audited. On SQLite, a
pool of one worker (``serve --workers``) drives queued runs and restarts a killed worker.
The fleet under random kills and pauses is in test_workers_chaos.py."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from tests.conftest import RunCli, cli_environ
from tests.support.postgres import Cluster
from tests.support.web import web_server
from tests.support.workers import BOOK, Fleet, query, wait_for

from runwright.app.runs.pool import WorkerPool
from runwright.app.runtime.settings import Settings

TTL = 2.0
NON_IDEMPOTENT = ("migrate", "announce")


@pytest.fixture
def fleet(pg_cluster: Cluster, tmp_path: Path, state_dir: Path) -> Iterator[Fleet]:
    url = pg_cluster.createdb(f"rw_{uuid4().hex[:12]}").replace("+psycopg", "")
    logs = tmp_path / "logs"
    logs.mkdir()
    f = Fleet(state_dir, url, TTL, logs)
    yield f
    f.stop_all()


def queue(fleet: Fleet, env: str, work: Path, nap: str = "0.2") -> int:
    done = fleet.cli("deploy", BOOK, "-e", env, "--version", "1", "--detach",
                     "--var", f"dir={work}", "--var", f"nap={nap}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def events(fleet: Fleet, run_id: int) -> list[tuple[int, str, str, str | None]]:
    return [
        (int(seq), str(kind), str(actor), step)
        for seq, kind, actor, step in query(
            fleet.url,
            "SELECT seq, type, actor, step FROM events WHERE run_id = %s ORDER BY seq",
            run_id,
        )
    ]


def running(fleet: Fleet, run_id: int, step: str | None = None) -> bool:
    """Whether a step of the run (``step``, or any) has started its process group: the
    driver keeps the group on the step's row (not as an event) once it runs."""
    rows = query(fleet.url, "SELECT name, data FROM steps WHERE run_id = %s", run_id)
    return any((step is None or name == step) and '"process"' in str(data) for name, data in rows)


def status(fleet: Fleet, run_id: int) -> str:
    return str(query(fleet.url, "SELECT status FROM runs WHERE id = %s", run_id)[0][0])


def effects(work: Path) -> list[str]:
    path = work / "effects"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_is_fenced_and_never_acts_again(
    fleet: Fleet, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_id = queue(fleet, "e00", work, nap="1.5")
    a = fleet.start("worker-a")
    wait_for("worker-a to start 'fetch'", lambda: running(fleet, run_id, "fetch"), 30)
    fleet.signal("worker-a", signal.SIGSTOP)
    fleet.start("worker-b")
    wait_for("worker-b to take the run over", lambda: any(
        kind == "run.taken_over" for _, kind, _, _ in events(fleet, run_id)), 30)  # fmt: skip
    wait_for("the run to succeed", lambda: status(fleet, run_id) == "succeeded", 40)
    journal, done = events(fleet, run_id), effects(work)
    fleet.signal("worker-a", signal.SIGCONT)
    assert a.wait(15) == 3
    time.sleep(1.0)
    assert "refused" in fleet.log("worker-a"), fleet.log("worker-a")
    assert events(fleet, run_id) == journal
    assert effects(work) == done
    taken = next(seq for seq, kind, _, _ in journal if kind == "run.taken_over")
    assert not [e for e in journal if e[0] > taken and e[2] == "worker-a"]
    assert Counter(done)[f"{run_id} migrate"] == 1
    listed = fleet.cli("workers", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"state": "stopped (run ' in listed.stdout
    assert fleet.cli("audit", "verify", str(run_id)).returncode == 0


@pytest.mark.slow
def test_a_queued_run_wakes_an_idle_worker_at_once(fleet: Fleet, tmp_path: Path) -> None:
    """LISTEN/NOTIFY: the worker looks for expired leases only every 60 s, yet claims a run
    queued while it sleeps within seconds."""
    work = tmp_path / "work"
    work.mkdir()
    fleet.start("worker-a", poll=60)
    wait_for("the worker to start", lambda: "started" in fleet.log("worker-a"), 30)
    time.sleep(1.0)
    queued_at = time.monotonic()
    run_id = queue(fleet, "e05", work, nap="0.1")
    wait_for("the run to succeed", lambda: status(fleet, run_id) == "succeeded", 20)
    assert time.monotonic() - queued_at < 20
    assert f"claimed run {run_id}" in fleet.log("worker-a")


@pytest.mark.slow
def test_sigterm_stops_the_step_in_flight_and_another_worker_takes_the_run_over(
    fleet: Fleet, tmp_path: Path
) -> None:
    """A supervisor stopping a worker (SIGTERM) mid-step: the worker kills the step's process
    group, records that it stopped and exits 143; the run is not lost: the next worker
    takes it over."""
    work = tmp_path / "work"
    work.mkdir()
    run_id = queue(fleet, "e07", work, nap="29.7")
    a = fleet.start("worker-a")
    wait_for("worker-a to start 'fetch'", lambda: running(fleet, run_id, "fetch"), 30)
    fleet.signal("worker-a", signal.SIGTERM)
    assert a.wait(15) == 143, fleet.log("worker-a")
    assert "Traceback" not in fleet.log("worker-a")
    listed = json.loads(fleet.cli("workers", "--json").stdout)
    assert [w["state"] for w in listed] == ["stopped (terminated)"], listed
    sleeping = subprocess.run(["pgrep", "-f", "sleep 29.7"], capture_output=True, text=True)
    assert sleeping.stdout.strip() == "", "the step's process outlived its worker"
    fleet.start("worker-b")
    wait_for("worker-b to take the run over", lambda: any(
        kind == "run.taken_over" for _, kind, _, _ in events(fleet, run_id)), 30)  # fmt: skip
    assert status(fleet, run_id) not in ("succeeded", "failed")


@pytest.mark.slow
def test_unlock_force_is_refused_while_the_lease_lives_and_audited_after(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.ttl = 8.0  # outlasts a CLI start on a busy machine: the lease is live when refused
    work = tmp_path / "work"
    work.mkdir()
    run_id = queue(fleet, "e03", work, nap="30")
    a = fleet.start("worker-a")
    wait_for("the run to start", lambda: running(fleet, run_id), 30)
    fleet.signal("worker-a", signal.SIGSTOP)
    refused = fleet.cli("unlock", "team", "e03", "--force", "--note", "stuck", user="carol")
    assert refused.returncode == 3, refused.stderr
    assert "unlock refused" in refused.stderr
    assert "worker-a@" in refused.stderr
    assert "lease until" in refused.stderr
    assert status(fleet, run_id) == "running"
    time.sleep(fleet.ttl + 0.5)
    broken = fleet.cli("unlock", "team", "e03", "--force", "--note", "stuck", user="carol")
    assert broken.returncode == 0, broken.stderr
    assert "lease of worker-a@" in broken.stdout
    assert "expired" in broken.stdout
    assert status(fleet, run_id) == "aborted"
    fleet.signal("worker-a", signal.SIGCONT)
    assert a.wait(15) == 3
    row = query(fleet.url, "SELECT actor, data FROM events WHERE run_id = %s AND type = %s",
                run_id, "lock.broken")  # fmt: skip
    assert row
    assert row[0][0] == "carol"
    assert '"note":"stuck"' in row[0][1]
    assert "worker-a@" in row[0][1]
    assert not (work / "effects").exists() or "fetch" not in (work / "effects").read_text()
    logs = fleet.cli("logs", str(run_id))
    assert "lock.broken" in logs.stdout
    assert fleet.cli("audit", "verify").returncode == 0


@pytest.mark.slow
def test_a_worker_pool_drives_queued_runs_and_restarts_a_killed_worker(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    """SQLite: one pooled worker (a second one on the same file is refused)."""
    work = tmp_path / "work"
    work.mkdir()
    queued = run_cli("deploy", BOOK, "-e", "e01", "--version", "1", "--detach",
                     "--var", f"dir={work}", "--var", "nap=0.1")  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    run_id = int(queued.stdout)
    assert run_cli("status", str(run_id)).returncode == 0
    settings = Settings.from_environ(cli_environ(state_dir))
    pool = WorkerPool(settings, 1, poll=0.2)
    pool.start()
    try:
        wait_for("the pooled worker to finish the run", lambda: "succeeded" in run_cli(
            "status", str(run_id)).stdout, 60)  # fmt: skip
        second = run_cli("worker", "--idle-exit", "0")
        assert second.returncode == 3, second.stderr
        assert "already serves this SQLite store" in second.stderr
        pool.procs[0].kill()
        pool.procs[0].wait()
        assert pool.check() == 1
        assert pool.procs[0].poll() is None
    finally:
        pool.close()
    listed = json.loads(run_cli("workers", "--json").stdout)
    assert [w["state"] for w in listed].count("alive") <= 1
    assert any(w["runs"] == [] and w["pid"] for w in listed)


SERVED = """\
name: served
vars:
  dir: /tmp
environments:
  staging: {}
phases:
  - name: release
    steps:
      - name: ship
        run: echo shipped {{ version }} >> {{ dir }}/log
"""


@pytest.mark.slow
def test_serve_with_workers_queues_web_deploys_for_its_own_worker(
    state_dir: Path, tmp_path: Path
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "served.yaml").write_text(SERVED)
    with web_server(state_dir, books, args=["--workers", "1"]) as web:
        with web.client(web.token("alice")) as api:
            sent = api.post(
                "/api/v1/runs",
                json={"runbook": "served", "environment": "staging", "version": "v7",
                      "vars": {"dir": str(tmp_path)}},
            )  # fmt: skip
            assert sent.status_code == 202, sent.text
            assert "queued" in sent.json()["message"]
            run_id = int(sent.json()["run"])
            wait_for("the server's worker to drive the run", lambda: api.get(
                f"/api/v1/runs/{run_id}").json()["status"] == "succeeded", 30)  # fmt: skip
        assert (tmp_path / "log").read_text() == "shipped v7\n"
        assert f"claimed run {run_id}" in web.output()
