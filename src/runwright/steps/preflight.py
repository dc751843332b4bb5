"""``preflight``: a runbook's "before you deploy" checks, proven by runwright instead of ticked.

A list of checks, run concurrently, each one of: ``disk`` (free percent/bytes where a path
lives), ``tls`` (days until an endpoint's certificate expires), ``dns`` (a name resolves, to
the expected addresses), ``env`` (variables set, optionally every key of a ``.env.example``),
``secrets`` (declared secrets readable, values never shown) and ``git_tag`` (the release is
tagged). Any failed check fails the step with its own words; every result is kept as evidence.

Usable as a step of its own or as a gate item's proof::

    - preflight:
        - disk: {path: /var/lib/postgresql, min_free_percent: 20}
        - tls: {endpoint: "https://shop.example.com", min_days: 14}
    - gate:
        - text: certificate valid for two more weeks
          check: {preflight: {tls: "https://shop.example.com"}}
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runwright.engine.executor import Outcome
from runwright.model.event_type import EventType
from runwright.model.templating import render, render_value
from runwright.model.types import also_accepts, shorthand
from runwright.preflight import (
    CheckResult,
    SecretSource,
    check_disk_free,
    check_dns,
    check_env_vars,
    check_git_tag,
    check_secrets,
    check_tls_expiry,
    run_checks,
)
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext


def _short_field_form(schema: dict[str, Any], cls: type) -> None:
    field = getattr(cls, "short_field", "")
    if field:
        shorthand(field)(schema, cls)


class _Check(BaseModel):
    """A check's settings; a plain string (or list) fills its main field."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_short_field_form)
    short_field: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if cls.short_field and isinstance(value, str | list):
            return {cls.short_field: value}
        return value


class DiskCheck(_Check):
    path: str
    min_free_percent: float | None = Field(None, ge=0, le=100)
    min_free_bytes: int | None = Field(None, ge=0)

    short_field: ClassVar[str] = "path"

    @model_validator(mode="after")
    def _threshold(self) -> DiskCheck:
        if self.min_free_percent is None and self.min_free_bytes is None:
            raise ValueError("a disk check needs min_free_percent or min_free_bytes")
        return self


class TlsCheck(_Check):
    endpoint: str
    min_days: float = Field(14.0, ge=0)
    verify: bool = False
    cafile: str | None = None
    server_name: str | None = None

    short_field: ClassVar[str] = "endpoint"


class DnsCheck(_Check):
    name: str
    expect: list[str] = Field(default_factory=list)

    short_field: ClassVar[str] = "name"


class EnvCheck(_Check):
    required: list[str] = Field(default_factory=list)
    example_file: str | None = None
    allow_empty: bool = False

    short_field: ClassVar[str] = "required"

    @model_validator(mode="after")
    def _something(self) -> EnvCheck:
        if not self.required and not self.example_file:
            raise ValueError("an env check needs required names or an example_file")
        return self


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str | None = None
    file: str | None = None


class GitTagCheck(_Check):
    tag: str = "{{ version }}"
    repo: str = "."

    short_field: ClassVar[str] = "tag"


class Check(BaseModel):
    """One preflight check: exactly one of its keys."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=also_accepts(secrets={"type": "array", "items": {"type": "string"}}),
    )

    disk: DiskCheck | None = None
    tls: TlsCheck | None = None
    dns: DnsCheck | None = None
    env: EnvCheck | None = None
    secrets: dict[str, SecretRef] | None = None
    git_tag: GitTagCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _secret_names(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("secrets"), list):
            names = value["secrets"]
            return {**value, "secrets": {str(n): {"env": str(n)} for n in names}}
        return value

    @model_validator(mode="after")
    def _one(self) -> Check:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            keys = ", ".join(type(self).model_fields)
            raise ValueError(f"each preflight check is exactly one of: {keys}")
        return self

    @property
    def key(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


def _keyed_form(full: dict[str, Any]) -> dict[str, Any]:
    """``preflight: {env: [...], disk: {...}}``: one check per key."""
    return {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"enum": list(Check.model_fields)},
    }


class PreflightParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("checks", _keyed_form))

    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"checks": value}
        if isinstance(value, dict) and "checks" not in value:
            return {"checks": [{k: v} for k, v in value.items()]}
        return value


def _label(check: Check, variables: Mapping[str, Any]) -> str:
    def r(text: str) -> str:
        return render(text, variables, where="preflight")

    if check.disk is not None:
        d = check.disk
        need = [f"{d.min_free_percent:g}% free" if d.min_free_percent is not None else ""]
        need.append(f"{d.min_free_bytes} bytes free" if d.min_free_bytes is not None else "")
        return f"disk {r(d.path)}: at least {' and '.join(n for n in need if n)}"
    if check.tls is not None:
        return f"tls {r(check.tls.endpoint)}: certificate valid {check.tls.min_days:g}+ days"
    if check.dns is not None:
        expect = f" to {', '.join(check.dns.expect)}" if check.dns.expect else ""
        return f"dns {r(check.dns.name)} resolves{expect}"
    if check.env is not None:
        what = list(check.env.required)
        if check.env.example_file:
            what.append(f"every key of {r(check.env.example_file)}")
        return f"env set: {', '.join(what)}"
    if check.secrets is not None:
        return f"secrets present: {', '.join(check.secrets)}"
    assert check.git_tag is not None
    return f"git tag {r(check.git_tag.tag)} exists in {r(check.git_tag.repo)}"


def _run(check: Check, ctx: StepContext) -> Awaitable[CheckResult]:
    def r(text: str) -> str:
        return render(text, ctx.variables, where=f"step '{ctx.step.name}' preflight")

    environ: Mapping[str, str] = ctx.services.environ
    if check.disk is not None:
        d = check.disk
        return check_disk_free(
            r(d.path), min_free_percent=d.min_free_percent, min_free_bytes=d.min_free_bytes
        )
    if check.tls is not None:
        t = check.tls
        return check_tls_expiry(
            r(t.endpoint),
            min_days=t.min_days,
            clock=ctx.clock,
            verify=t.verify,
            cafile=r(t.cafile) if t.cafile else None,
            server_name=r(t.server_name) if t.server_name else None,
        )
    if check.dns is not None:
        return check_dns(
            r(check.dns.name),
            expect=render_value(check.dns.expect, ctx.variables),
            clock=ctx.clock,
        )
    if check.env is not None:
        e = check.env
        return check_env_vars(
            environ,
            [r(n) for n in e.required],
            example_file=Path(r(e.example_file)) if e.example_file else None,
            allow_empty=e.allow_empty,
        )
    if check.secrets is not None:
        declared = {
            name: SecretSource(
                env=r(ref.env) if ref.env else None, file=r(ref.file) if ref.file else None
            )
            for name, ref in check.secrets.items()
        }
        return check_secrets(declared, environ)
    assert check.git_tag is not None
    return check_git_tag(r(check.git_tag.repo), r(check.git_tag.tag), clock=ctx.clock)


class PreflightKind:
    key = "preflight"
    params = PreflightParams

    def describe(self, p: PreflightParams, ctx: PlanContext) -> list[str]:
        return [f"check {_label(c, ctx.variables)}" for c in p.checks]

    async def execute(self, ctx: StepContext, p: PreflightParams) -> Outcome:
        labels = [_label(c, ctx.variables) for c in p.checks]
        keys = [f"{n}: {label}" for n, label in enumerate(labels, 1)]
        results = await run_checks({k: _run(c, ctx) for k, c in zip(keys, p.checks, strict=True)})
        evidence: list[dict[str, Any]] = []
        failed: list[str] = []
        for key, check in zip(keys, p.checks, strict=True):
            result = results[key]
            ctx.output(f"{check.key}: {result.describe()}")
            entry = {
                "check": check.key,
                "ok": result.ok,
                "detail": result.detail,
                "evidence": dict(result.evidence),
            }
            ctx.record(EventType.PREFLIGHT_CHECK, entry)
            evidence.append(entry)
            if not result.ok:
                failed.append(f"{check.key}: {result.detail}")
        if failed:
            return Outcome.fail(
                f"{len(failed)} of {len(p.checks)} preflight check(s) failed: " + "; ".join(failed),
                checks=evidence,
            )
        details = "; ".join(str(e["detail"]) for e in evidence)
        return Outcome.ok(f"{len(p.checks)} preflight check(s) passed: {details}", checks=evidence)


KIND = PreflightKind()
