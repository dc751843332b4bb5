"""What a check's measurements mean: the rules that turn numbers into running, failed or paused.

Hand-written runbooks roll back on sentences like "error rate > 1% for 5 minutes". This module
pins those sentences down, with no I/O, so the same rules drive a live run, a replay of stored
records (``replay``: the tests use it to pin verdicts; a run resumed after a crash starts its
analysis window afresh rather than replaying) and ``runwright plan``'s worst-case time to abort.

A ``CheckSpec`` holds a condition (``fail_if: "> 0.01"`` fails when it holds; ``pass_if:
"< 2"`` fails when it does not) and one of two breach rules:

- ``for_seconds`` (sustained breach): the check fails at a measurement when every measurement
  with data since the first one of the current breach streak breached, and that streak spans
  at least ``for_seconds`` (its last measurement is ``for_seconds`` or more after its first).
  With a 10s interval and ``for: 30s`` that is the 4th breach in a row, at 0, 10, 20, 30s.
  One good measurement ends the streak. Provider errors and ignored no-data are unknowns: they
  neither end a streak nor count as breaches (a flaky provider must not delay a rollback).
- ``failure_limit: N``: the check fails when *more than* N measurements breached over the whole
  analysis: N breaches are tolerated, breach N+1 fails. Neither rule given means
  ``failure_limit: 0``: the first breach fails.

No data (``value`` None) follows ``no_data``: ``pause`` (default: the check is paused and a
person decides), ``fail``, or ``ignore`` (recorded, not judged). A check never passes
silently: a window that ends with no measurement holding data, or in the middle of a
sustained breach, is paused. Provider errors fail the check with verdict ``error`` once more
than ``consecutive_error_limit`` happen in a row. Verdicts rank failed > error > paused >
running: while paused, measuring goes on and a clear failure still fails.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from runwright.errors import InputError
from runwright.model.checks import Rules
from runwright.model.durations import format_duration, parse_duration
from runwright.model.status import Verdict


class NoDataPolicy(StrEnum):
    PAUSE = "pause"
    FAIL = "fail"
    IGNORE = "ignore"


Mode = Literal["fail_if", "pass_if"]
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(
    r"^\s*(>=|<=|==|!=|>|<|=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z%]*)\s*$"
)
_RANK = {Verdict.RUNNING: 0, Verdict.PAUSED: 1, Verdict.ERROR: 2, Verdict.FAILED: 3}


@dataclass(frozen=True)
class Condition:
    """``> 0.01`` under ``fail_if`` or ``pass_if``; ``threshold`` is in the metric's unit."""

    mode: Mode
    operator: str
    threshold: float

    @classmethod
    def parse(cls, text: object, *, mode: Mode) -> Condition:
        """Read ``"> 0.01"``, ``"> 1%"`` (0.01), ``"< 2s"``, ``"<= 500ms"`` (0.5)."""
        match = _CONDITION.match(text) if isinstance(text, str) else None
        if not match:
            raise InputError(
                f"cannot read condition {mode}: {text!r}",
                hint="write an operator and a threshold, e.g. '> 0.01', '> 1%' or '< 2s'",
            )
        op, number, unit = match.groups()
        threshold = float(number)
        if unit == "%":
            threshold /= 100
        elif unit:
            try:
                threshold = parse_duration(f"{number}{unit}")
            except ValueError as exc:
                raise InputError(f"cannot read condition {mode}: {text!r}: {exc}") from None
        return cls(mode=mode, operator="==" if op == "=" else op, threshold=threshold)

    def breached(self, value: float) -> bool:
        holds = _OPERATORS[self.operator](value, self.threshold)
        return holds if self.mode == "fail_if" else not holds

    @property
    def short(self) -> str:
        """How reasons show it: ``> 0.01`` for fail_if, ``needs < 2`` for pass_if."""
        text = f"{self.operator} {_fmt(self.threshold)}"
        return text if self.mode == "fail_if" else f"needs {text}"

    def __str__(self) -> str:
        return f"{self.mode} {self.operator} {_fmt(self.threshold)}"


@dataclass(frozen=True)
class CheckSpec:
    """One check's rules. Durations are seconds; see the module docstring for the semantics."""

    name: str
    condition: Condition
    query: str = ""
    interval_seconds: float = 60.0
    initial_delay_seconds: float = 0.0
    for_seconds: float | None = None
    failure_limit: int | None = None
    no_data: NoDataPolicy = NoDataPolicy.PAUSE
    consecutive_error_limit: int = 3

    def __post_init__(self) -> None:
        problem = None
        if self.interval_seconds <= 0:
            problem = "interval must be more than 0s"
        elif self.initial_delay_seconds < 0:
            problem = "initial_delay cannot be negative"
        elif self.for_seconds is not None and self.failure_limit is not None:
            problem = "give either 'for' (sustained breach) or 'failure_limit', not both"
        elif self.for_seconds is not None and self.for_seconds < 0:
            problem = "'for' cannot be negative"
        elif self.failure_limit is not None and self.failure_limit < 0:
            problem = "failure_limit cannot be negative"
        elif self.consecutive_error_limit < 0:
            problem = "consecutive_error_limit cannot be negative"
        if problem:
            raise InputError(f"check {self.name!r}: {problem}")

    @property
    def limit(self) -> int:
        """The failure limit in force (0 when neither rule was given)."""
        return self.failure_limit or 0


def parse_check(name: str, check: Rules, *, query: str | None = None) -> CheckSpec:
    """Build a CheckSpec from a check's typed definition (``model.checks``).

    Reads ``fail_if`` or ``pass_if`` (the condition as written), ``interval``,
    ``initial_delay``, ``for``, ``failure_limit``, ``no_data`` and ``consecutive_error_limit``,
    with their defaults; ``query`` overrides the check's own (a rendered or default one).
    The provider and its settings are the provider's business.
    """
    if (check.fail_if is None) == (check.pass_if is None):
        raise InputError(f"check {name!r} needs exactly one of fail_if or pass_if")
    mode: Mode = "fail_if" if check.fail_if is not None else "pass_if"
    condition = Condition.parse(check.fail_if if mode == "fail_if" else check.pass_if, mode=mode)
    return CheckSpec(
        name=name,
        condition=condition,
        query=check.query if query is None else query,
        interval_seconds=check.interval_seconds,
        initial_delay_seconds=check.initial_delay or 0.0,
        for_seconds=check.for_,
        failure_limit=check.failure_limit,
        no_data=NoDataPolicy(check.no_data or NoDataPolicy.PAUSE),
        consecutive_error_limit=check.error_limit,
    )


def worst_case_abort_seconds(spec: CheckSpec) -> float:
    """Worst-case seconds from a fault to the check failing, initial_delay aside.

    The fault starts just after a measurement, so the first breach is seen one interval
    later. With ``failure_limit: N`` and no earlier breach, N+1 breaches are needed:
    ``interval x (N + 1)``. With ``for``, the streak must then span ``for`` seconds, which takes
    ``ceil(for / interval)`` more intervals: ``interval x (1 + ceil(for / interval))``
    (``for + interval`` when ``for`` is a whole number of intervals). Assumes the metric shows
    the fault at once; a Prometheus rate window adds its own lag.
    """
    interval = spec.interval_seconds
    if spec.for_seconds is not None:
        steps = math.ceil(spec.for_seconds / interval - 1e-9)
        return interval * (1 + max(steps, 0))
    return interval * (spec.limit + 1)


@dataclass(frozen=True)
class CheckResult:
    """The check's verdict now, with one sentence a person can act on."""

    check: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class CheckRecord:
    """One measurement (or provider error) as the engine stores it."""

    check: str
    at: datetime
    query: str
    value: float | None
    condition: str
    breached: bool | None
    verdict: Verdict
    reason: str
    error: str | None = None


@dataclass(frozen=True)
class Observation:
    """A measurement or an error, for ``replay``."""

    at: datetime
    value: float | None = None
    query: str = ""
    error: str | None = None


@dataclass
class CheckEvaluator:
    """Feeds one check's measurements through its rules; ``result`` is the verdict so far."""

    spec: CheckSpec
    started_at: datetime
    records: list[CheckRecord] = field(default_factory=list, init=False)
    _result: CheckResult | None = field(default=None, init=False)
    _breaches: list[tuple[datetime, float]] = field(default_factory=list, init=False)
    _streak: list[tuple[datetime, float]] = field(default_factory=list, init=False)
    _with_data: int = field(default=0, init=False)
    _errors_in_a_row: int = field(default=0, init=False)
    _last: datetime | None = field(default=None, init=False)

    @property
    def result(self) -> CheckResult:
        return self._result or CheckResult(self.spec.name, Verdict.RUNNING, "measuring")

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    def next_due(self) -> datetime:
        """When the next measurement should be taken."""
        if self._last is None:
            return self.started_at + timedelta(seconds=self.spec.initial_delay_seconds)
        return self._last + timedelta(seconds=self.spec.interval_seconds)

    def observe(
        self, at: datetime, value: float | None, *, query: str | None = None, note: str = ""
    ) -> CheckRecord:
        """Judge one measurement taken at ``at``; return its record."""
        self._last = at
        spec = self.spec
        if self.verdict.final:
            breached = None if value is None else spec.condition.breached(value)
            return self._record(at, value, query, breached, "measured after the verdict")
        self._errors_in_a_row = 0
        if value is None or math.isnan(value):
            why = f"; {note}" if note else ""
            if spec.no_data is NoDataPolicy.IGNORE:
                return self._record(at, None, query, None, f"no data (ignored){why}")
            sentence = f"{spec.name} returned no data at {at:%H:%M:%S}{why}"
            if spec.no_data is NoDataPolicy.FAIL:
                self._raise(Verdict.FAILED, f"{sentence} (no_data: fail)")
            else:
                self._raise(Verdict.PAUSED, f"{sentence}; a person decides (no_data: pause)")
            return self._record(at, None, query, None, self.result.reason)
        self._with_data += 1
        breached = spec.condition.breached(value)
        if not breached:
            self._streak.clear()
            return self._record(at, value, query, False, "within the condition")
        self._breaches.append((at, value))
        self._streak.append((at, value))
        if spec.for_seconds is not None:
            span = (at - self._streak[0][0]).total_seconds()
            if span >= spec.for_seconds - 1e-9:
                values = _list([v for _, v in self._streak])
                self._raise(
                    Verdict.FAILED,
                    f"{spec.name} was {values} ({spec.condition.short}) for {_span(span)}",
                )
                return self._record(at, value, query, True, self.result.reason)
            progress = f"breached for {_span(span)} of {_span(spec.for_seconds)}"
            return self._record(at, value, query, True, progress)
        count = len(self._breaches)
        if count > spec.limit:
            values = _list([v for _, v in self._breaches])
            self._raise(
                Verdict.FAILED,
                f"{spec.name} was {values} ({spec.condition.short}): {count} "
                f"{'breach' if count == 1 else 'breaches'}, more than failure_limit {spec.limit}",
            )
            return self._record(at, value, query, True, self.result.reason)
        return self._record(at, value, query, True, f"breach {count} of {spec.limit} tolerated")

    def observe_error(self, at: datetime, message: str, *, query: str | None = None) -> CheckRecord:
        """Record that the provider could not be read at ``at``."""
        self._last = at
        if not self.verdict.final:
            self._errors_in_a_row += 1
            limit = self.spec.consecutive_error_limit
            if self._errors_in_a_row > limit:
                self._raise(
                    Verdict.ERROR,
                    f"{self.spec.name} could not be measured {self._errors_in_a_row} times in a "
                    f"row (more than consecutive_error_limit {limit}): {message}",
                )
        note = self.result.reason if self.verdict is Verdict.ERROR else "provider error"
        return self._record(at, None, query, None, note, error=message)

    def conclude(self, at: datetime) -> CheckResult:
        """The analysis window ended at ``at``: pass, unless something says otherwise."""
        spec = self.spec
        if self.verdict is not Verdict.RUNNING:
            return self.result
        if self._with_data == 0:
            self._raise(
                Verdict.PAUSED,
                f"{spec.name} had no measurement with data before the window ended; "
                "a person decides",
            )
        elif spec.for_seconds is not None and self._streak:
            span = (at - self._streak[0][0]).total_seconds()
            values = _list([v for _, v in self._streak])
            self._raise(
                Verdict.PAUSED,
                f"{spec.name} was {values} ({spec.condition.short}) for {_span(span)} when the "
                f"window ended, short of the {_span(spec.for_seconds)} that fails it; "
                "a person decides",
            )
        else:
            breaches = len(self._breaches)
            tolerated = f", {breaches} tolerated by failure_limit {spec.limit}" if breaches else ""
            self._result = CheckResult(
                spec.name,
                Verdict.PASSED,
                f"{spec.name} met its condition ({spec.condition}) in {self._with_data} "
                f"measurement{'s' if self._with_data != 1 else ''}{tolerated}",
            )
        return self.result

    def resume(self) -> None:
        """A person looked at a paused check and chose to go on measuring."""
        if self.verdict is Verdict.PAUSED:
            self._result = None

    def _raise(self, verdict: Verdict, reason: str) -> None:
        if _RANK[verdict] > _RANK.get(self.verdict, 99):
            self._result = CheckResult(self.spec.name, verdict, reason)

    def _record(
        self,
        at: datetime,
        value: float | None,
        query: str | None,
        breached: bool | None,
        reason: str,
        *,
        error: str | None = None,
    ) -> CheckRecord:
        record = CheckRecord(
            check=self.spec.name,
            at=at,
            query=self.spec.query if query is None else query,
            value=value,
            condition=str(self.spec.condition),
            breached=breached,
            verdict=self.verdict,
            reason=reason,
            error=error,
        )
        self.records.append(record)
        return record


def replay(
    spec: CheckSpec, started_at: datetime, observations: Iterable[Observation]
) -> CheckEvaluator:
    """Rebuild an evaluator from past observations (e.g. stored records after a restart)."""
    evaluator = CheckEvaluator(spec, started_at)
    for seen in observations:
        if seen.error is not None:
            evaluator.observe_error(seen.at, seen.error, query=seen.query or None)
        else:
            evaluator.observe(seen.at, seen.value, query=seen.query or None)
    return evaluator


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _list(values: list[float]) -> str:
    if len(values) <= 6:
        return ", ".join(_fmt(v) for v in values)
    head = ", ".join(_fmt(v) for v in values[:2])
    tail = ", ".join(_fmt(v) for v in values[-3:])
    return f"{head}, ..., {tail} ({len(values)} measurements)"


def _span(seconds: float) -> str:
    return format_duration(seconds)
