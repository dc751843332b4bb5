"""A throwaway PostgreSQL cluster for tests, made with initdb/pg_ctl on a free local port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def available() -> bool:
    return all(_binary(b) for b in ("initdb", "pg_ctl", "postgres"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    datadir: Path

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def createdb(self, name: str) -> str:
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, database: str, sql: str) -> str:
        psql = _binary("psql") or "psql"
        out = subprocess.run(
            [
                psql,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Start a private cluster (trust auth, loopback only) and remove it afterwards.

    initdb refuses to run as root, so as root the cluster is made by the 'nobody'-like
    'postgres' user when it exists, else by a user made for it.
    """
    tmp = Path(tempfile.mkdtemp(prefix="rw-pg-"))
    datadir = tmp / "data"
    port = free_port()
    user = "runwright"
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = "postgres"
        if subprocess.run(["id", "-u", owner], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", owner], check=True)
        shutil.chown(tmp, owner, owner)
        run_as = ["runuser", "-u", owner, "--"]
    subprocess.run(
        [
            *run_as,
            _binary("initdb") or "initdb",
            "-D",
            str(datadir),
            "-U",
            user,
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={tmp} -c fsync=off"
    subprocess.run(
        [
            *run_as,
            _binary("pg_ctl") or "pg_ctl",
            "-D",
            str(datadir),
            "-o",
            opts,
            "-w",
            "-l",
            str(tmp / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield Cluster("127.0.0.1", port, user, datadir)
    finally:
        subprocess.run(
            [*run_as, _binary("pg_ctl") or "pg_ctl", "-D", str(datadir), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)
