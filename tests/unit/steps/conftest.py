"""What step tests share: a hand-built StepContext on a FakeClock, an in-process Runtime on a
throwaway SQLite store, and a real HTTP server on 127.0.0.1 whose answers a test scripts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from runwright.app.runs import decisions, runs
from runwright.app.runtime.identity import AuthMethod
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import FakeClock
from runwright.engine.executor import RunInfo
from runwright.engine.store import ApprovalRow, RunRow, StepRow
from runwright.model.schema import Step
from runwright.steps.services import StepContext, StepServices


@dataclass
class Harness:
    """A StepContext factory that records what the step said and did."""

    clock: FakeClock = field(default_factory=FakeClock)
    lines: list[str] = field(default_factory=list)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attested: list[tuple[str, int | None, str]] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)

    def context(
        self,
        kind: str,
        params: Any,
        *,
        variables: Mapping[str, Any] | None = None,
        name: str = "the step",
        initiator: str = "alice",
        actor: str = "alice",
        interactive: Callable[[str], bool] | None = None,
        environ: Mapping[str, str] | None = None,
        **common: Any,
    ) -> StepContext:
        from runwright.steps.registry import kinds

        validated = kinds()[kind].params.model_validate(params)
        spec = Step(
            name=name, kind=kind, params=validated.model_dump(mode="json", by_alias=True), **common
        ).model_dump(mode="json")
        row = StepRow(
            run_id=1,
            section="main",
            idx=0,
            phase="p",
            name=name,
            kind=kind,
            spec=spec,
            status="running",
            undo_status=None,
            attempts=1,
            started_at=None,
            finished_at=None,
            summary=None,
            output="",
            data={},
        )
        return StepContext(
            run=RunInfo(1, "book", "staging", "v1", initiator),
            step=row,
            spec=spec,
            attempt=1,
            undo=False,
            clock=self.clock,
            variables={"version": "v1", "environment": "staging", **(variables or {})},
            output=self.lines.append,
            approvals=lambda gate: [a for a in self.approvals if a.gate == gate],
            services=StepServices(environ=dict(environ or {"PATH": "/usr/bin:/bin"})),
            record=lambda type_, data: self.records.append((type_, dict(data))),
            actor=actor,
            attest=lambda gate, item, note: self.attested.append((gate, item, note)),
            interactive=interactive,
        )

    def approve(
        self,
        gate: str,
        user: str,
        *,
        kind: str = "approval",
        item: int | None = None,
        at: datetime | None = None,
    ) -> None:
        self.approvals.append(ApprovalRow(1, gate, kind, item, user, "", at or self.clock.now()))


@pytest.fixture
def harness() -> Harness:
    return Harness()


@dataclass
class App:
    """An in-process runwright on a FakeClock and a SQLite store in a temp directory."""

    rt: Runtime
    clock: FakeClock
    dir: Path

    def write(self, text: str, name: str = "runbook.yaml") -> Path:
        path = self.dir / name
        path.write_text(dedent(text).lstrip("\n"))
        return path

    def as_user(self, user: str) -> App:
        """Act as ``user``, authenticated the way the web server's login would be."""
        self.rt.settings = replace(self.rt.settings, user=user, via=AuthMethod.LOGIN)
        return self

    def deploy(
        self, text: str, env: str | None = None, version: str = "v1", **kwargs: Any
    ) -> RunRow:
        return asyncio.run(runs.deploy(self.rt, self.write(text), env, version, **kwargs))

    def resume(self, run_id: int) -> RunRow:
        return asyncio.run(runs.resume(self.rt, run_id))

    def approve(self, run_id: int, note: str) -> str:
        return asyncio.run(decisions.approve(self.rt, run_id, note)).message

    def attest(self, run_id: int, note: str, items: list[int] | None = None) -> str:
        return asyncio.run(decisions.attest(self.rt, run_id, note, items)).message

    def events(self, run_id: int, prefix: str = "") -> list[tuple[str, str | None, dict[str, Any]]]:
        return [
            (e.type, e.step, e.data)
            for e in self.rt.store.events(run_id)
            if e.type.startswith(prefix)
        ]


REAL_WORK_GRACE = 10.0
"""Real seconds a timeout around real work (a child process, a socket) gets before fake time
may expire it: the work's own speed, not the machine's load, decides the test."""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock = FakeClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC), deadline_grace=REAL_WORK_GRACE)
    state = tmp_path / "state"
    settings = Settings.from_environ({"PATH": "/usr/bin:/bin"}, state_dir=str(state), user="alice")
    rt = Runtime.open(replace(settings, via=AuthMethod.LOGIN), clock=clock)
    try:
        yield App(rt, clock, tmp_path)
    finally:
        rt.close()


@dataclass
class Script:
    """How the test server answers: ``unhealthy_for`` 503s first, then ``body`` with 200."""

    unhealthy_for: int = 0
    body: Any = field(default_factory=lambda: {"status": "ok", "version": "v1"})
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@dataclass
class Server:
    url: str
    script: Script


@pytest.fixture
def server() -> Iterator[Server]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.requests.append((self.command, self.path, dict(self.headers), body))
            if script.delay:
                time.sleep(script.delay)
            if len(script.requests) <= script.unhealthy_for:
                payload, status = b'{"status": "starting"}', 503
            else:
                raw = script.body
                payload = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
                status = 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in script.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", script)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
