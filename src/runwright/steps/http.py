"""``http``: a request with assertions, the building block of health and smoke checks.

Assertions cover what runbooks check by hand: status, JSON fields, body text, latency.
``until_healthy`` repeats the request until it passes or a deadline passes (a readiness wait
that does not guess with ``sleep``). ``capture`` keeps values (a login token) for later steps
as ``{{ captured.NAME }}``.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runwright.engine.executor import Outcome
from runwright.model import jsonpath
from runwright.model.templating import render, render_value
from runwright.model.types import Duration, OptionalDuration, also_accepts, shorthand
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext


class Expect(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=also_accepts(
            status={"type": "integer"}, body_contains={"type": "string"}
        ),
    )

    status: list[int] = Field(default_factory=lambda: [200])
    json_fields: dict[str, Any] = Field(default_factory=dict, alias="json")
    body_contains: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            if isinstance(value.get("status"), int):
                value["status"] = [value["status"]]
            if isinstance(value.get("body_contains"), str):
                value["body_contains"] = [value["body_contains"]]
        return value


class UntilHealthy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: Duration = 60.0
    interval: Duration = 1.0


class HttpParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("url"))

    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(None, alias="json")
    expect: Expect = Field(default_factory=Expect)
    latency_budget: OptionalDuration = None
    until_healthy: UntilHealthy | None = None
    request_timeout: Duration = 10.0
    capture: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"url": value}
        if isinstance(value, dict) and value.get("until_healthy") is True:
            return {**value, "until_healthy": {}}
        if isinstance(value, dict) and value.get("until_healthy") is False:
            return {k: v for k, v in value.items() if k != "until_healthy"}
        return value


def _check(
    p: HttpParams, status: int, text: str, elapsed: float, variables: Mapping[str, Any]
) -> tuple[list[str], Any]:
    problems: list[str] = []
    document: Any = None
    if status not in p.expect.status:
        problems.append(f"status {status}, expected {' or '.join(map(str, p.expect.status))}")
    if p.expect.json_fields or any(v.startswith("$") for v in p.capture.values()):
        try:
            document = jsonlib.loads(text)
        except ValueError:
            if p.expect.json_fields:
                problems.append("body is not JSON")
    for path, wanted in render_value(p.expect.json_fields, variables).items():
        if document is None:
            break
        got = jsonpath.lookup(document, path)
        if got is jsonpath.MISSING:
            problems.append(f"{path} is missing")
        elif got != wanted and str(got) != str(wanted):
            problems.append(f"{path} is {got!r}, expected {wanted!r}")
    for needle in render_value(p.expect.body_contains, variables):
        if needle not in text:
            problems.append(f"body does not contain {needle!r}")
    if p.latency_budget is not None and elapsed > p.latency_budget:
        problems.append(f"took {elapsed * 1000:.0f}ms, budget {p.latency_budget * 1000:.0f}ms")
    return problems, document


def _capture(p: HttpParams, document: Any, response: httpx.Response) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, source in p.capture.items():
        if source.startswith("$"):
            value = jsonpath.lookup(document, source) if document is not None else jsonpath.MISSING
            if value is jsonpath.MISSING:
                raise KeyError(f"capture '{name}': {source} not found in the response")
            out[name] = value
        elif source.lower().startswith("header:"):
            out[name] = response.headers.get(source.split(":", 1)[1].strip(), "")
        elif source == "body":
            out[name] = response.text
        elif source == "status":
            out[name] = response.status_code
        else:
            raise KeyError(f"capture '{name}': use '$.path', 'header:NAME', 'body' or 'status'")
    return out


async def request_once(
    client: httpx.AsyncClient, p: HttpParams, url: str, variables: Mapping[str, Any]
) -> tuple[httpx.Response, float]:
    headers = render_value(p.headers, variables, where="http headers")
    kwargs: dict[str, Any] = {"headers": headers}
    if p.json_body is not None:
        kwargs["json"] = render_value(p.json_body, variables, where="http json")
    elif p.body is not None:
        kwargs["content"] = render(p.body, variables, where="http body")
    response = await client.request(p.method.upper(), url, **kwargs)
    # httpx times the exchange itself (request sent to body read): real latency, on any clock
    return response, response.elapsed.total_seconds()


class HttpKind:
    key = "http"
    params = HttpParams

    def describe(self, p: HttpParams, ctx: PlanContext) -> list[str]:
        url = render(p.url, ctx.variables, where="http url")
        line = f"{p.method.upper()} {url} expect {'/'.join(map(str, p.expect.status))}"
        out = [line]
        for path, wanted in render_value(p.expect.json_fields, ctx.variables).items():
            out.append(f"  and {path} == {wanted!r}")
        for needle in render_value(list(p.expect.body_contains), ctx.variables):
            out.append(f"  and body contains {needle!r}")
        if p.latency_budget is not None:
            out.append(f"  within {p.latency_budget * 1000:.0f}ms")
        if p.until_healthy:
            out.append(
                f"  retry every {p.until_healthy.interval:g}s until healthy, "
                f"up to {p.until_healthy.timeout:g}s"
            )
        if p.capture:
            out.append("  captures " + ", ".join(p.capture))
        return out

    async def execute(self, ctx: StepContext, p: HttpParams) -> Outcome:
        url = render(p.url, ctx.variables, where=f"step '{ctx.step.name}' url")
        deadline = ctx.clock.monotonic() + (p.until_healthy.timeout if p.until_healthy else 0)
        tries = 0
        last = ""
        async with httpx.AsyncClient(
            timeout=p.request_timeout, verify=p.verify_tls, follow_redirects=False
        ) as client:
            while True:
                tries += 1
                try:
                    response, elapsed = await request_once(client, p, url, ctx.variables)
                    problems, document = _check(
                        p, response.status_code, response.text, elapsed, ctx.variables
                    )
                    ctx.output(
                        f"{p.method.upper()} {url} -> {response.status_code} in "
                        f"{elapsed * 1000:.0f}ms"
                        + (f" ({'; '.join(problems)})" if problems else "")
                    )
                    if not problems:
                        try:
                            captured = _capture(p, document, response)
                        except KeyError as exc:
                            return Outcome.fail(str(exc.args[0]), retryable=False)
                        return Outcome.ok(
                            f"{response.status_code} in {elapsed * 1000:.0f}ms"
                            + (f" after {tries} tries" if tries > 1 else ""),
                            captured=captured,
                            status=response.status_code,
                            latency_ms=round(elapsed * 1000, 1),
                        )
                    last = "; ".join(problems)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    ctx.output(f"{p.method.upper()} {url} -> {last}")
                if not p.until_healthy or ctx.clock.monotonic() >= deadline:
                    break
                await ctx.clock.sleep(p.until_healthy.interval)
        if p.until_healthy:
            return Outcome.fail(
                f"not healthy after {p.until_healthy.timeout:g}s ({tries} tries): {last}"
            )
        return Outcome.fail(f"{p.method.upper()} {url}: {last}")


KIND = HttpKind()
