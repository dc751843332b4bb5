"""Workers sharing one PostgreSQL store: runs claimed per second with 1, 2 and 4 ``runwright
worker`` processes, and the time from a worker's death (SIGKILL) to its run taken over by
another worker (the bar: lease TTL + 1 s).

A throwaway PostgreSQL cluster (tests/support/postgres.py) holds the store. ``--runs`` runs of a
one-step runbook (``true``) over 40 environments are queued; the workers claim and drive them;
the rate counts from the first claim to the last run's end. Printed beside it, as reference in
the same invocation: the bare claim rate (``claim_next`` in a loop in this process, no run
driven), i.e. what the queue itself allows. The takeover is measured ``--deaths`` times with
RUNWRIGHT_LEASE_TTL=``--ttl`` and workers polling every 0.2 s.

    PYTHONPATH=src:. python benchmarks/workers.py [--runs 120] [--ttl 2] [--deaths 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import Cluster, throwaway_cluster  # noqa: E402

from runwright.app.runs.worker import queue  # noqa: E402
from runwright.app.runtime.runtime import Runtime  # noqa: E402
from runwright.app.runtime.settings import Settings  # noqa: E402
from runwright.engine.claims import claim_next  # noqa: E402
from runwright.engine.processes import ProcessMark  # noqa: E402

ENVS = 40
BOOK = """name: bench
environments:
{envs}
phases:
  - name: all
    steps:
      - name: one
        idempotent: true
        run: {command}
"""


def write_book(tmp: Path, command: str) -> Path:
    envs = "\n".join(f"  b{i:02d}: {{}}" for i in range(ENVS))
    path = tmp / f"bench-{abs(hash(command)) % 10**6}.yaml"
    path.write_text(BOOK.format(envs=envs, command=command))
    return path


def environ(state: Path, url: str, ttl: float, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
    env.update(RUNWRIGHT_STATE_DIR=str(state), RUNWRIGHT_DATABASE_URL=url,
               RUNWRIGHT_LEASE_TTL=str(ttl), RUNWRIGHT_USER=user,
               PYTHONPATH=str(ROOT / "src"))  # fmt: skip
    return env


def worker(state: Path, url: str, ttl: float, name: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright.cli.main", "worker", "--poll", "0.2"],
        env=environ(state, url, ttl, name), stdin=subprocess.DEVNULL,
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def fresh(cluster: Cluster, name: str, tmp: Path, ttl: float) -> tuple[str, Path, Runtime]:
    url = cluster.createdb(name).replace("+psycopg", "")
    state = tmp / name
    state.mkdir()
    return url, state, Runtime.open(Settings.from_environ(environ(state, url, ttl, "bench")))


def scalar(url: str, sql: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def wait_for(url: str, count_sql: str, limit: float, what: str, poll: float = 0.05) -> None:
    """Poll ``count_sql`` until it counts a row; a benchmark that waits has a deadline too."""
    deadline = time.monotonic() + limit
    while scalar(url, count_sql) == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"workers.py: gave up waiting {limit:g} s for {what}")
        time.sleep(poll)


def throughput(cluster: Cluster, tmp: Path, workers: int, runs: int, ttl: float) -> float:
    url, state, rt = fresh(cluster, f"rate{workers}", tmp, ttl)
    book = write_book(tmp, "'true'")
    for i in range(runs):
        queue(rt, book, f"b{i % ENVS:02d}", f"1.{i}")
    procs = [worker(state, url, ttl, f"w{i}", tmp / f"rate{workers}.log") for i in range(workers)]
    try:
        deadline = time.monotonic() + 600
        while scalar(url, "SELECT count(*) FROM runs WHERE finished_at IS NULL") != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{workers} workers: runs not finished in 600 s")
            time.sleep(0.2)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    first = scalar(url, "SELECT min(at) FROM events WHERE type = 'run.claimed'")
    last = scalar(url, "SELECT max(finished_at) FROM runs")
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    rt.close()
    return runs / (last - first).total_seconds()


def bare_claims(cluster: Cluster, tmp: Path, runs: int, ttl: float) -> float:
    url, _state, rt = fresh(cluster, "bare", tmp, ttl)
    book = write_book(tmp, "'true'")
    for i in range(runs):
        queue(rt, book, f"b{i % ENVS:02d}", f"1.{i}")
    start, claimed = time.perf_counter(), 0
    while claim_next(rt.store, "bench@bare:1.1", now=datetime.now(UTC), ttl=ttl) is not None:
        claimed += 1
    elapsed = time.perf_counter() - start
    rt.close()
    return claimed / elapsed


def takeover(cluster: Cluster, tmp: Path, ttl: float, n: int) -> float:
    """SIGKILL the worker driving a long step; seconds until another took the run over."""
    url, state, rt = fresh(cluster, f"takeover{n}", tmp, ttl)
    book = write_book(tmp, "sleep 60")
    run_id = queue(rt, book, "b00", "1")
    log = tmp / f"takeover{n}.log"
    first = worker(state, url, ttl, "first", log)
    try:
        # The step's process group is kept on its row (not an event) once it has started.
        started = f"SELECT count(*) FROM steps WHERE run_id = {run_id} AND data LIKE '%process%'"
        wait_for(url, started, 60.0, "the first worker to start the step")
        second = worker(state, url, ttl, "second", log)
        time.sleep(3.0)  # the second worker is up and idle, polling
        killed = time.monotonic()
        os.kill(first.pid, signal.SIGKILL)
        taken = f"SELECT count(*) FROM events WHERE run_id = {run_id} AND type = 'run.taken_over'"
        wait_for(url, taken, 10 * ttl + 10, "the takeover", poll=0.02)
        took = time.monotonic() - killed
        second.kill()
        second.wait()
    finally:
        first.kill()
        first.wait()
    time.sleep(0.5)
    mark = ProcessMark.from_data(rt.store.steps(run_id)[0].data.get("process"))
    if mark is not None:  # the step the killed second worker left running
        mark.kill()
    rt.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=120)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--deaths", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rw-bench-workers-") as td, throwaway_cluster() as pg:
        tmp = Path(td)
        bare = bare_claims(pg, tmp, args.runs, args.ttl)
        rates = {n: throughput(pg, tmp, n, args.runs, args.ttl) for n in (1, 2, 4)}
        deaths = [takeover(pg, tmp, args.ttl, i) for i in range(args.deaths)]
    print(f"runs claimed and driven per second ({args.runs} one-step runs, {ENVS} envs):")
    for n, rate in rates.items():
        print(f"  {n} worker{'s' if n > 1 else ' '}: {rate:7.1f} runs/s   "
              f"({rate / rates[1]:.2f}x one worker)")  # fmt: skip
    print(f"  reference, bare claim_next loop in one process: {bare:7.1f} claims/s")
    bar = args.ttl + 1.0
    print(f"worker death -> run taken over elsewhere (lease TTL {args.ttl:g} s, bar {bar:g} s):")
    for i, took in enumerate(deaths, 1):
        print(f"  death {i}: {took:5.2f} s  {'within' if took <= bar else 'OVER'} the bar")
    print(f"  worst: {max(deaths):.2f} s; lease TTL alone: {args.ttl:.2f} s")


if __name__ == "__main__":
    main()
