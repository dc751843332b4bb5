"""A real Alertmanager (the Debian ``prometheus-alertmanager`` binary) for silence tests.

``running_alertmanager()`` starts it on a free 127.0.0.1 port with a minimal config, its own
storage directory and clustering off, waits until it is ready, and stops it afterwards.
``silences(url)`` reads its silences through the v2 API, as an operator's tooling would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.prometheus import free_port

BINARY = "prometheus-alertmanager"


def available() -> bool:
    return shutil.which(BINARY) is not None


@dataclass(frozen=True)
class RunningAlertmanager:
    url: str
    workdir: Path


@contextmanager
def running_alertmanager(ready_timeout: float = 30.0) -> Iterator[RunningAlertmanager]:
    if not available():
        pytest.skip(f"{BINARY} is not installed (scripts/setup installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="rw-am-"))
    port = free_port()
    config = workdir / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    log = (workdir / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"alertmanager exited:\n{(workdir / 'alertmanager.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield RunningAlertmanager(url, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def silences(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/silences", timeout=5) as answer:
        data: list[dict[str, Any]] = json.loads(answer.read())
    return data
