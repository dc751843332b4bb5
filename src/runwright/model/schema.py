"""The runbook schema: what a runbook may say, validated strictly so typos fail loudly.

Pydantic models here describe the runbook's frame (environments, phases, rollback, policies)
and the fields every step shares. Each step kind's own parameters are validated by the model
its module in ``runwright.steps`` declares; the loader receives those models as a mapping,
so adding a step kind never touches this file.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Generic, Literal, TypeVar

from pydantic import ConfigDict, Field, field_validator

from runwright.model.checks import CheckDefinition
from runwright.model.notify import SinkSpec, Subscription
from runwright.model.release import ProductService, ReleaseSpec, ServiceSpec
from runwright.model.types import Duration, OptionalDuration, Strict
from runwright.model.versions import compile_pattern

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Secret(Strict):
    """Where a secret's value comes from; the value itself is never written anywhere."""

    env: str | None = None
    file: str | None = None
    description: str = ""

    @field_validator("file")
    @classmethod
    def _one_source(cls, v: str | None) -> str | None:
        return v


class Approvals(Strict):
    required: int = Field(1, ge=1, le=20)
    not_by_initiator: bool = True
    expires: OptionalDuration = None
    approvers: list[str] = Field(default_factory=list)


class Window(Strict):
    """Deployments are allowed on these days between start and end (local to timezone)."""

    days: list[str] = Field(default_factory=lambda: list(DAYS[:5]))
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    timezone: str = "UTC"

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        out = []
        for day in v:
            short = day.strip().lower()[:3]
            if short not in DAYS:
                raise ValueError(f"unknown day {day!r}; use mon, tue, wed, thu, fri, sat, sun")
            out.append(short)
        return out


class Freeze(Strict):
    """No deployments between ``from`` and ``to`` (inclusive dates or exact times)."""

    from_: datetime | date = Field(alias="from")
    to: datetime | date
    reason: str = ""


class RollbackRules(Strict):
    """What a ``runwright rollback`` of this environment needs: an emergency rollback must
    not wait on the gates a deploy waits on. Windows and freezes never block a rollback."""

    approvals: int = Field(
        0, ge=0, le=20, description="Approvals a rollback to the previous revision needs"
    )
    approvals_to_earlier: int | None = Field(
        None,
        ge=0,
        le=20,
        description="Approvals a rollback to an older revision needs (default: as many as a "
        "deploy, the environment's approvals.required, 0 without)",
    )


class Environment(Strict):
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    approvals: Approvals | None = None
    rollback: RollbackRules = Field(default_factory=RollbackRules)
    identity: Literal["authenticated", "self_declared"] = "authenticated"
    requires: str | None = None
    windows: list[Window] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    notify: list[Subscription] = Field(default_factory=list)


class StepCommon(Strict):
    """Fields every step has, whatever its kind. ``kind``/``params`` are filled by the loader."""

    name: str | None = None
    description: str = ""
    timeout: OptionalDuration = None
    retries: int = Field(0, ge=0, le=100)
    backoff: Duration = 1.0
    idempotent: bool = False
    manual: bool = False
    draft: bool = Field(
        False,
        description="Proposed by `runwright import` and not reviewed yet: done by hand, like a "
        "manual step, until `runwright review` accepts it",
    )
    original: str = Field("", description="The command the imported runbook wrote")
    undo: str | dict[str, Any] | None = None
    continue_on_error: bool = False
    environments: list[str] = Field(
        default_factory=list, description="Run only in these environments (empty: in every one)"
    )

    def runs_in(self, environment: str) -> bool:
        return not self.environments or environment in self.environments


class Step(StepCommon):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    undo_step: Step | None = None
    service: str | None = None  # the product's service this step releases (services:)
    line: int | None = None
    command_line: int | None = None  # where the action's value (a command) starts


class Phase(Strict):
    name: str
    description: str = ""
    steps: list[dict[str, Any]] = Field(default_factory=list)


class Procedure(Strict):
    description: str = ""
    steps: list[dict[str, Any]] = Field(default_factory=list)


PhaseT = TypeVar("PhaseT")
StepT = TypeVar("StepT")
ProcedureT = TypeVar("ProcedureT")


class _FormatVersion(Strict):
    runwright: Literal[1] | None = Field(None, description="Runbook format version")


class RunbookFields(Strict, Generic[PhaseT, StepT, ProcedureT]):
    """A runbook's sections, defined once. Its phases, rollback and procedures hold steps:
    as the file writes them in ``RunbookFrame``, resolved to their kinds in the loader's
    ``Runbook``; every other section is the same in both."""

    name: str
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(default_factory=dict)
    service: ServiceSpec | None = None
    release: ReleaseSpec | None = None
    services: dict[str, ProductService] = Field(
        default_factory=dict,
        description="Several services released together (instead of service: + release:)",
    )
    checks: dict[str, CheckDefinition] = Field(
        default_factory=dict, description="Named checks that analysis windows measure"
    )
    phases: list[PhaseT] = Field(default_factory=list)
    rollback: list[StepT] = Field(default_factory=list)
    procedures: dict[str, ProcedureT] = Field(default_factory=dict)
    sinks: dict[str, SinkSpec] = Field(default_factory=dict)
    notify: list[Subscription] = Field(default_factory=list)
    version_pattern: str | None = Field(
        None, description="Regex a version must match in full (default: no shell syntax)"
    )

    @field_validator("version_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            compile_pattern(v)
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("use letters, digits, '-', '_', '.' and spaces")
        return v


class RunbookFrame(RunbookFields[Phase, dict[str, Any], Procedure], _FormatVersion):
    """The top level of a runbook file, before step kinds are resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
