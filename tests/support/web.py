"""A real ``runwright serve`` in a subprocess for web tests: its URL, its first login link,
and helpers to add users and mint their tokens with the real CLI.

The server runs as a user would start it (the installed command, uvicorn on 127.0.0.1), on
a state directory of the test's own; tests talk to it over HTTP only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT, cli_command, cli_environ, cli_in
from tests.support.postgres import free_port

START_TIMEOUT = 20.0


@dataclass
class WebServer:
    url: str
    state_dir: Path
    runbooks: Path
    process: subprocess.Popen[str]
    login_link: str
    started_in: float
    log: Path

    def cli(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
        done = cli_in(self.state_dir)(*args, user=user)
        assert done.returncode == 0, done.stderr
        return done

    def add_user(self, name: str, *roles: str, envs: Sequence[str] = ()) -> None:
        args = ["users", "add", name]
        for role in roles:
            args += ["--role", role]
        for env in envs:
            args += ["--env", env]
        self.cli(*args)

    def token(self, name: str, expires: str = "1h") -> str:
        return self.cli("token", "create", "--user", name, "--expires", expires).stdout.strip()

    def login_url(self, name: str) -> str:
        out = self.cli(
            "token", "create", "--user", name, "--login", "--url", self.url, "--expires", "10m"
        )
        return out.stdout.strip()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def web_server(
    state_dir: Path,
    runbooks: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[WebServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = state_dir.parent / f"serve-{port}.log"
    environ = cli_environ(state_dir, **dict(env or {}))
    began = time.monotonic()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                *cli_command(),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--runbooks",
                str(runbooks),
                *args,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env=environ,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        started = _wait_up(url, proc, log)
        link = next((w for w in log.read_text().split() if "/login?token=" in w), "")
        yield WebServer(url, state_dir, runbooks, proc, link, started - began, log)
    finally:
        _stop(proc)


def _wait_up(url: str, proc: subprocess.Popen[str], log: Path) -> float:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"runwright serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/login", timeout=1).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"runwright serve did not answer in {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
