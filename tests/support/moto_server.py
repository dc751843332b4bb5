"""moto in server mode: a real HTTP endpoint on 127.0.0.1 that boto3 talks to unchanged.

``running_moto()`` starts ``python -m moto.server`` on a free port in its own process (one per
test module or test, so state never leaks between tests), waits until it answers, and stops
it. ``aws_environ(url)`` is the environment a runwright process needs to use it: a region,
dummy credentials, and no shared config files of the machine's user.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3

from tests.support.prometheus import free_port

REGION = "eu-west-1"


@dataclass(frozen=True)
class Moto:
    url: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def alarm(
    moto: Moto, name: str, state: str, *, namespace: str, metric: str, statistic: str
) -> None:
    """A CloudWatch alarm (above 5 for 5 periods of 60 s) set to ``state``."""
    cw = moto.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Statistic=statistic,
        Period=60,
        EvaluationPeriods=5,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test set {state}")


def aws_environ(tmp: Path) -> dict[str, str]:
    """Region and dummy credentials, with the shared AWS files pointed into ``tmp``."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@contextmanager
def running_moto(ready_timeout: float = 30.0) -> Iterator[Moto]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"moto server exited: {err[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield Moto(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@dataclass
class Recorder:
    """What passed through a ``recording`` proxy: (action, form fields) of each query-protocol
    call (ELBv2, RDS, CloudWatch use it), in order."""

    url: str = ""
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def actions(self, action: str) -> list[dict[str, str]]:
        return [fields for name, fields in self.calls if name == action]


@contextmanager
def recording(target: Moto) -> Iterator[Recorder]:
    """A proxy on 127.0.0.1 that forwards every request to ``target`` and records it."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fields = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            if "Action" in fields:
                recorder.calls.append((fields["Action"], fields))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(
                target.url + self.path, data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, data, kind = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, data, kind = error.code, error.read(), error.headers
            self.send_response(status)
            for key in ("Content-Type", "x-amzn-RequestId", "x-amz-request-id"):
                if kind.get(key):
                    self.send_header(key, kind[key])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
