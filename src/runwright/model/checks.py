"""A runbook's ``checks:`` entries as typed models, one per provider, read once at load.

A check is flat in the file (``provider``, its settings, the rules, the comparison with the
stable version, the draft marks ``runwright import`` writes), so the models are flat too: the
common parts are mixins and each provider adds its own settings. ``provider`` picks the model
(``prometheus`` when absent, as drafts are), and a key no model of that provider knows is
refused with its position and the keys the provider takes, so ``fial_if`` or a prometheus
``aggregate`` on a scrape check never slips through to a release. Values whose meaning needs
the rules' vocabulary (conditions, ``min_effect`` ratios, latency quantiles) stay as written:
``engine.checks`` and ``engine.sequential`` read them into frozen rule objects with their own
messages. A run stores its checks as JSON (``stored``) and reads them back with
``check_from``, so the definitions a run was planned with are the ones it measures.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runwright.errors import InputError
from runwright.model.types import OptionalDuration

PROVIDERS = ("scrape", "router", "prometheus", "http", "command", "cloudwatch")
DEFAULT_PROVIDER = "prometheus"
NO_DATA = ("pause", "fail", "ignore")
DIRECTIONS = ("higher_is_worse", "lower_is_worse", "either")
AGGREGATES = ("sum", "avg", "min", "max")
CLOUDWATCH_STATS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")

NoData = Literal["pause", "fail", "ignore"]
Direction = Literal["higher_is_worse", "lower_is_worse", "either"]
Aggregate = Literal["sum", "avg", "min", "max"]
Threshold = str | float
"""A condition as written (``"> 1%"``); ``engine.checks.Condition`` reads it."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def written(self) -> set[str]:
        """The keys the runbook gave a value other than the default, as it wrote them
        (``for``, not ``for_``); the same after a full ``model_dump`` round trip."""
        fields = type(self).model_fields
        return {
            fields[name].alias or name
            for name in self.model_fields_set
            if getattr(self, name) != fields[name].get_default(call_default_factory=True)
        }


class DraftMarks(_Base):
    """What ``runwright import`` writes beside a threshold it read from prose."""

    draft: bool = Field(False, description="Read from prose: confirm it, then remove this")
    line: int | None = Field(None, description="The Markdown line the draft was read from")
    also_at: list[int] = Field(default_factory=list, description="Other lines saying the same")
    source: str = Field("", description="The sentence or table row the draft was read from")
    metric: str | None = Field(None, description="The metric the prose names")
    severity: str | None = Field(None, description="watch, warning, critical, rollback...")
    description: str = ""


DEFAULT_INTERVAL = 60.0
"""Seconds between measurements when a check names no ``interval``."""
DEFAULT_ERROR_LIMIT = 3
"""Provider errors in a row a check tolerates when it names no ``consecutive_error_limit``."""


class Rules(_Base):
    """When a measurement breaches and when breaches fail the check (``engine.checks``)."""

    query: str = Field("", description="What to measure (a template)")
    fail_if: Threshold | None = Field(None, description="Breach when this holds, e.g. '> 1%'")
    pass_if: Threshold | None = Field(None, description="Breach unless this holds, e.g. '< 2s'")
    interval: OptionalDuration = Field(None, description="Between measurements (default 60s)")
    initial_delay: OptionalDuration = Field(None, description="Before the first measurement")
    for_: OptionalDuration = Field(None, alias="for", description="Sustained breach that fails")
    failure_limit: int | None = Field(None, description="Breaches tolerated (default 0)")
    no_data: NoData | None = Field(None, description="pause (default), fail or ignore")
    consecutive_error_limit: int | None = Field(
        None, description="Provider errors in a row tolerated (default 3)"
    )
    timeout: OptionalDuration = Field(
        None, description="Per measurement (default: the interval, between 1s and 10s)"
    )

    # The defaults live here, as properties: the fields stay None when unset so a stored
    # check keeps only what its author wrote.
    @property
    def interval_seconds(self) -> float:
        return DEFAULT_INTERVAL if self.interval is None else self.interval

    @property
    def timeout_seconds(self) -> float:
        """The time one measurement may take: the interval, kept between 1 s and 10 s."""
        return self.timeout or max(1.0, min(10.0, self.interval or DEFAULT_INTERVAL))

    @property
    def error_limit(self) -> int:
        if self.consecutive_error_limit is None:
            return DEFAULT_ERROR_LIMIT
        return self.consecutive_error_limit

    @field_validator("failure_limit", "consecutive_error_limit", "min_samples", "max_rows",
                     "warmup", mode="before", check_fields=False)  # fmt: skip
    @classmethod
    def _whole(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{info.field_name} must be a whole number, got {value!r}")
        return value

    @field_validator("no_data", mode="before")
    @classmethod
    def _no_data(cls, value: object) -> object:
        if value is not None and value not in NO_DATA:
            raise ValueError(f"no_data must be pause, fail or ignore, not {value!r}")
        return value


class Comparison(_Base):
    """``compare: baseline``: the canary's values against the stable version's."""

    compare: Literal["baseline", "none"] | None = Field(
        None, description="baseline: also judge the canary against the stable version"
    )
    baseline_query: str | None = Field(None, description="The stable version's query")
    baseline_url: str | None = Field(None, description="The stable version's url")
    min_samples: int | None = Field(None, description="Fewer samples pause (default 10)")
    alpha: float | None = Field(None, description="Significance level (default 0.05)")
    direction: Direction | None = Field(None, description="Which way is worse")
    min_effect: float | str | None = Field(
        None, description="Smallest difference worth a rollback (a ratio for sequential)"
    )

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, value: object) -> object:
        if value is not None and value not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        return value


class _Check(DraftMarks, Rules, Comparison):
    @model_validator(mode="before")
    @classmethod
    def _sequential_on_router(cls, data: object) -> object:
        fields = data if isinstance(data, dict) else {}
        if fields.get("method") == "sequential" and fields.get("provider") != "router":
            raise ValueError(
                "method sequential needs provider: router (it counts each version's "
                "requests at the router; add provider: router)"
            )
        return data


class Endpoint(_Base):
    """Where a page, a Prometheus server or a probe is read."""

    url: str = Field("", description="Where to read (a template)")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with each read")

    @field_validator("headers", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value


class ScrapeCheck(_Check, Endpoint):
    """A ``/metrics`` page read and evaluated by the scrape query subset."""

    provider: Literal["scrape"]


class PrometheusCheck(_Check, Endpoint):
    """A PromQL query through the Prometheus HTTP API."""

    provider: Literal["prometheus"] = "prometheus"
    aggregate: Aggregate | None = Field(None, description="Combine several series")

    @field_validator("aggregate", mode="before")
    @classmethod
    def _aggregate(cls, value: object) -> object:
        if value is not None and value not in AGGREGATES:
            raise ValueError("aggregate must be sum, avg, min or max")
        return value


class HttpCheck(_Check, Endpoint):
    """An HTTP probe: 1 when it answers as expected, else 0."""

    provider: Literal["http"]
    method: str = Field("GET", description="The HTTP method")
    expect_status: list[int] = Field(default_factory=list, description="Accepted statuses")

    @field_validator("expect_status", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        return [value] if isinstance(value, int | str) else value


class CommandCheck(_Check):
    """A command that prints a number."""

    provider: Literal["command"]
    cwd: str | None = Field(None, description="Where the command runs")


class Latency(_Base):
    quantile: str | float = Field(description="p90, p99 or 0.9")


class RouterCheck(_Check):
    """The run's router counters; ``method: sequential`` tests them request by request."""

    provider: Literal["router"]
    method: Literal["sequential"] | None = Field(
        None, description="sequential: an anytime-valid test of the router's counts"
    )
    latency: Latency | None = Field(None, description="Sequential: judge slow requests")
    effects: list[str | float] | None = Field(None, description="Sequential: planned rates")
    poll: OptionalDuration = Field(None, description="Sequential: how often counts are read")
    max_rows: int | None = Field(None, description="Sequential: measurements stored at most")
    warmup: int | None = Field(
        None,
        ge=0,
        description="Sequential: the canary's first requests not judged (default 100 for "
        "latency, 0 for failures)",
    )


class CloudWatchCheck(_Check):
    """A CloudWatch metric, or ``alarm: NAME`` (fails while the alarm is in ALARM)."""

    provider: Literal["cloudwatch"]
    stat: str | None = Field(None, description="Average (default), Sum, Minimum...")
    period: OptionalDuration = Field(None, description="The statistic's period (default 60s)")
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    alarm: str | None = Field(None, description="Read this alarm's state instead of a metric")

    @field_validator("stat", mode="before")
    @classmethod
    def _stat(cls, value: object) -> object:
        if value is not None and value not in CLOUDWATCH_STATS:
            raise ValueError(f"stat must be one of {', '.join(CLOUDWATCH_STATS)}")
        return value


_MODELS: dict[str, type[_Check]] = {
    "scrape": ScrapeCheck,
    "router": RouterCheck,
    "prometheus": PrometheusCheck,
    "http": HttpCheck,
    "command": CommandCheck,
    "cloudwatch": CloudWatchCheck,
}


def _provider(value: Any) -> str:
    raw = value.get("provider") if isinstance(value, dict) else getattr(value, "provider", None)
    return str(raw or DEFAULT_PROVIDER)


def _known_provider(value: Any) -> Any:
    if not isinstance(value, dict | BaseModel):
        raise ValueError(
            "a check must be a mapping such as {provider: prometheus, url: ..., query: ..., "
            "fail_if: ...}"
        )
    if isinstance(value, dict) and _provider(value) not in PROVIDERS:
        raise ValueError(
            f"unknown provider {_provider(value)!r}; use one of {', '.join(PROVIDERS)}"
        )
    return value


CheckDefinition: TypeAlias = Annotated[
    Annotated[
        Annotated[ScrapeCheck, Tag("scrape")]
        | Annotated[RouterCheck, Tag("router")]
        | Annotated[PrometheusCheck, Tag("prometheus")]
        | Annotated[HttpCheck, Tag("http")]
        | Annotated[CommandCheck, Tag("command")]
        | Annotated[CloudWatchCheck, Tag("cloudwatch")],
        Discriminator(_provider),
    ],
    BeforeValidator(_known_provider),
]
"""One check as the runbook declares it; ``provider`` chooses the model."""

AnyCheck: TypeAlias = (
    ScrapeCheck | RouterCheck | PrometheusCheck | HttpCheck | CommandCheck | CloudWatchCheck
)
"""A parsed check, for annotations (``CheckDefinition`` is the same union as pydantic reads it)."""
_ADAPTER: TypeAdapter[AnyCheck] = TypeAdapter(CheckDefinition)


def known_keys(provider: str) -> list[str]:
    """The keys a check of ``provider`` takes, as written in a runbook."""
    model = _MODELS.get(provider, PrometheusCheck)
    return sorted(info.alias or name for name, info in model.model_fields.items())


def unknown_key_hint(key: str, provider: str) -> str:
    """Why ``key`` is refused on a ``provider`` check and what would be accepted."""
    known = known_keys(provider)
    elsewhere = [p for p in PROVIDERS if p != provider and key in known_keys(p)]
    if elsewhere:
        return f"'{key}' applies to provider {' or '.join(elsewhere)}, not {provider}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    mean = f"did you mean '{close[0]}'? " if close else ""
    return f"{mean}{provider} checks take: {', '.join(known)}"


def check_from(name: str, data: object) -> AnyCheck:
    """A check from its dict form (a stored run's spec, a test); an InputError names the
    first problem as the loader would."""
    if isinstance(data, BaseModel):
        return _ADAPTER.validate_python(data.model_dump(by_alias=True, exclude_unset=True))
    try:
        return _ADAPTER.validate_python(data)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise InputError(f"check {name!r}: {exc}") from None
        err = exc.errors()[0]
        where = [str(p) for p in err["loc"] if p not in _MODELS]
        if err["type"] == "extra_forbidden" and where:
            hint = unknown_key_hint(where[-1], _provider(data))
            raise InputError(f"check {name!r}: unknown key '{where[-1]}'", hint=hint) from None
        message = str(err["msg"]).removeprefix("Value error, ")
        at = f"{'.'.join(where)}: " if where and not message.startswith(where[-1]) else ""
        raise InputError(f"check {name!r}: {at}{message}") from None


def stored(check: AnyCheck) -> dict[str, Any]:
    """The JSON form a run keeps: the keys as written, durations in seconds."""
    return check.model_dump(mode="json", by_alias=True, exclude_unset=True)
