"""``http`` against a real server on 127.0.0.1: assertions, readiness waits on a FakeClock,
captures that later steps use, and failures that say what was wrong."""

from __future__ import annotations

import json
import time

from tests.unit.steps.conftest import App, Harness, Server

from runwright.steps.http import KIND
from runwright.steps.registry import params_as


async def test_until_healthy_keeps_asking_until_the_server_is_ready(
    harness: Harness, server: Server
) -> None:
    server.script.unhealthy_for = 4
    ctx = harness.context(
        "http",
        {
            "url": server.url + "/health",
            "until_healthy": {"timeout": "60s", "interval": "2s"},
            "expect": {"status": 200, "json": {"$.version": "{{ version }}"}},
        },
    )
    started = time.monotonic()
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded", outcome.summary
    assert outcome.summary.endswith("after 5 tries")
    assert len(server.script.requests) == 5
    assert harness.clock.monotonic() == 8.0
    assert time.monotonic() - started < 5
    assert f"GET {server.url}/health -> 503 in " in harness.lines[0]
    assert "(status 503, expected 200; $.version is missing)" in harness.lines[0]
    assert f"GET {server.url}/health -> 200 in " in harness.lines[-1]


async def test_until_healthy_gives_up_at_the_deadline_without_waiting_for_real(
    harness: Harness, server: Server
) -> None:
    server.script.unhealthy_for = 1000
    ctx = harness.context(
        "http", {"url": server.url, "until_healthy": {"timeout": "5m", "interval": "30s"}}
    )
    started = time.monotonic()
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary == "not healthy after 300s (11 tries): status 503, expected 200"
    assert outcome.retryable
    assert harness.clock.monotonic() == 300.0
    assert time.monotonic() - started < 5


async def test_json_fields_body_and_method_are_checked(harness: Harness, server: Server) -> None:
    server.script.body = {"status": "ok", "version": "v2", "items": [{"id": 3}]}
    ctx = harness.context(
        "http",
        {
            "url": server.url + "/api",
            "method": "post",
            "headers": {"X-Release": "{{ version }}"},
            "json": {"version": "{{ version }}"},
            "expect": {
                "status": [200, 201],
                "json": {"$.version": "{{ version }}", "$.items[0].id": 3, "$.missing": 1},
                "body_contains": "nope",
            },
        },
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary == (
        f"POST {server.url}/api: $.version is 'v2', expected 'v1'; $.missing is missing; "
        "body does not contain 'nope'"
    )
    method, path, headers, body = server.script.requests[0]
    assert (method, path) == ("POST", "/api")
    assert headers["X-Release"] == "v1"
    assert json.loads(body) == {"version": "v1"}


async def test_a_body_that_is_not_json_fails_json_assertions(
    harness: Harness, server: Server
) -> None:
    server.script.body = b"<html>hello</html>"
    ctx = harness.context("http", {"url": server.url, "expect": {"json": {"$.a": 1}}})
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary.endswith("body is not JSON")


async def test_latency_budget(harness: Harness, server: Server) -> None:
    server.script.delay = 0.05
    ctx = harness.context("http", {"url": server.url, "latency_budget": "10ms"})
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert "budget 10ms" in outcome.summary


async def test_connection_refused_is_a_retryable_failure(
    harness: Harness, free_port: object
) -> None:
    port = free_port()  # type: ignore[operator]
    ctx = harness.context("http", {"url": f"http://127.0.0.1:{port}/", "request_timeout": "2s"})
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert "ConnectError" in outcome.summary
    assert outcome.retryable


async def test_captures_json_header_and_status(harness: Harness, server: Server) -> None:
    server.script.body = {"token": "abc123", "user": {"id": 9}}
    server.script.headers = {"X-Request-Id": "r-77"}
    ctx = harness.context(
        "http",
        {
            "url": server.url + "/login",
            "capture": {
                "token": "$.token",
                "uid": "$.user.id",
                "rid": "header:X-Request-Id",
                "code": "status",
            },
        },
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert outcome.data["captured"] == {"token": "abc123", "uid": 9, "rid": "r-77", "code": 200}


async def test_a_capture_that_finds_nothing_fails_without_retry(
    harness: Harness, server: Server
) -> None:
    ctx = harness.context("http", {"url": server.url, "capture": {"token": "$.token"}})
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary == "capture 'token': $.token not found in the response"
    assert not outcome.retryable


def test_a_captured_value_feeds_later_steps(app: App, server: Server) -> None:
    server.script.body = {"token": "t-42"}
    out = app.dir / "out"
    run = app.deploy(
        f"""
        name: smoke
        phases:
          - name: p
            steps:
              - name: login
                http:
                  url: {server.url}/login
                  capture: {{token: $.token}}
              - name: use it
                run: echo {{{{ captured.token }}}} > {out}
              - name: call
                http:
                  url: "{server.url}/me?t={{{{ captured.token }}}}"
        """
    )
    assert run.status == "succeeded", run.failure
    assert out.read_text() == "t-42\n"
    assert server.script.requests[-1][1] == "/me?t=t-42"
