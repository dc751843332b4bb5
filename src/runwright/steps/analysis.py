"""``analysis``: judge a release by its metrics while it runs, and say exactly why it stops.

Hand-written runbooks roll back on rules such as "error rate > 1% for 5 minutes". Here such a
rule is a named check in the runbook's ``checks:`` section, measured every ``interval`` for the
step's ``duration``. Every reading is stored (query, value, condition, verdict) so a rollback
can always be explained. The step returns as soon as a check fails, within one interval of the
measurement that decides it, so the rollback starts at once; a check that is paused (no data,
too few samples to compare) blocks the run for a person to decide: it never passes silently.
``wait`` steps and the pauses and bake of a release run their time under ``run_analysis``.

A check names its provider and settings beside the rules ``parse_check`` reads::

    error-rate:
      provider: scrape                  # scrape | router | prometheus | http | command
      url: "{{ new_url }}/metrics"
      query: rate(demo_requests_total{status=~"5.."}) / rate(demo_requests_total)
      fail_if: "> 5%"
      interval: 10s
      for: 30s                          # or failure_limit: N; no_data: pause | fail | ignore

``url``, ``query`` and ``headers`` are templates rendered with the step's variables, so a
query can name ``{{ version }}`` (a command's query is shell-quoted). Other keys: ``timeout``,
``method`` and ``expect_status`` (http), ``aggregate`` (prometheus). A scrape query that needs
two scrapes (``rate``) is primed by one unjudged scrape when the analysis starts. The
``router`` provider needs no url: it reads the run's router counters (see ``router_metrics``).

With ``compare: baseline`` (a step's or a check's; a step's ``compare: none`` turns a check's
off, as release bakes do), the check is also rendered for the stable
version (``version`` is the previous version, ``new_url`` the stable instance's address;
``baseline_query`` / ``baseline_url`` override) and measured at the same instants. When the
window ends, ``compare_baseline`` judges the canary's values against the stable ones
(``min_samples``, ``alpha``, ``direction``, ``min_effect``): significantly worse fails, too
few samples pauses.

A check with ``method: sequential`` (``provider: router``) is not measured on a timer: the
canary's and the stable version's per-request counts are tested as the router counts them
(``sequential_watch``), and the window ends the moment that test rejects.

``restore`` (a canary pause passes it: all traffic back on the stable version) runs the moment
a check fails, before the failure's rows and words are written: the rollback's first router
write does not wait for the journal.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import Field

from runwright.engine.checks import CheckEvaluator, CheckRecord, CheckSpec, parse_check
from runwright.engine.checks import worst_case_abort_seconds as worst_case
from runwright.engine.clock import Clock
from runwright.engine.executor import Outcome
from runwright.engine.sequential import SequentialSpec, Traffic, is_sequential, parse_sequential
from runwright.engine.stats import Comparison, Direction, compare_baseline
from runwright.errors import InputError, ProviderError
from runwright.model.durations import format_duration, parse_duration
from runwright.model.status import RunStatus, Verdict
from runwright.model.templating import render
from runwright.model.types import Duration
from runwright.providers.base import HttpSettings, Provider
from runwright.steps.base import Params, PlanContext
from runwright.steps.router_metrics import RouterProvider
from runwright.steps.sequential_watch import SequentialWatch, Sides, plan_sequential
from runwright.steps.services import StepContext

logger = logging.getLogger(__name__)

PROVIDERS = ("scrape", "router", "prometheus", "http", "command", "cloudwatch")
PAGE_PROVIDERS = ("scrape", "router")
"""Providers that evaluate the scrape query subset over a metrics page (rates need two reads)."""
Compare = Literal["baseline", "none"]
"""``baseline``: compare every check with the stable version; ``none``: compare none, even a
check that asks for it (a bake, where the stable version takes no traffic)."""


def compares(step_compare: str | None, mapping: Mapping[str, Any]) -> bool:
    """Whether a check is compared with the stable version in this step."""
    if step_compare is not None:
        return step_compare == "baseline"
    return mapping.get("compare") == "baseline"


ProviderFactory = Callable[[str, Mapping[str, Any], Clock], Provider]
"""``(check name, rendered check mapping, clock) -> Provider``; tests inject one as the
``provider_factory`` service."""


class AnalysisParams(Params):
    checks: list[str] = Field(min_length=1)
    duration: Duration
    compare: Compare | None = None


# --- reading a check's mapping ---------------------------------------------------------------


def provider_of(name: str, mapping: Mapping[str, Any]) -> str:
    provider = str(mapping.get("provider") or "prometheus")
    if provider not in PROVIDERS:
        raise InputError(
            f"check {name!r}: unknown provider {provider!r}",
            hint="use one of " + ", ".join(PROVIDERS),
        )
    return provider


def check_spec(name: str, mapping: Mapping[str, Any]) -> CheckSpec:
    """The check's rules, refusing drafts and checks with nothing to measure."""
    if mapping.get("draft"):
        where = f" (read from line {mapping['line']})" if mapping.get("line") else ""
        raise InputError(
            f"check {name} is a draft: confirm it{where}",
            hint="review its threshold, give it a provider, url and query, "
            "then remove 'draft: true'",
        )
    provider = provider_of(name, mapping)
    if provider == "cloudwatch" and mapping.get("alarm"):
        mapping = alarm_check(mapping)
    if provider != "http" and not str(mapping.get("query") or "").strip():
        raise InputError(f"check {name!r} has no query", hint="add query: ... to the check")
    if provider not in ("command", "router", "cloudwatch") and not str(
        mapping.get("url") or ""
    ).strip():
        raise InputError(
            f"check {name!r} needs a url for provider {provider}",
            hint="e.g. url: http://prometheus:9090, or '{{ new_url }}/metrics' for scrape",
        )
    return parse_check(name, {"query": "success", **mapping})


def alarm_check(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``alarm: NAME`` reads the alarm: its query is the name, and it fails while the alarm
    is in ALARM (value 1) unless the check says otherwise."""
    rule = {} if "fail_if" in mapping or "pass_if" in mapping else {"fail_if": "> 0"}
    return {"query": str(mapping["alarm"]), **rule, **mapping}


def check_rules(name: str, mapping: Mapping[str, Any]) -> CheckSpec | SequentialSpec:
    """A check's rules, whichever method judges it (drafts refused as ``check_spec`` does)."""
    if is_sequential(mapping) and not mapping.get("draft"):
        return parse_sequential(name, mapping)
    return check_spec(name, mapping)


_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def validate_check(name: str, mapping: Mapping[str, Any]) -> None:
    """Refuse, when a runbook is loaded, a check that could never be measured: its rules
    (condition, ``for`` or ``failure_limit``, ``no_data``...), its provider and url, and a
    scrape or router query outside the supported subset. Drafts (from ``import``) wait for a
    person and are refused only when a run uses them."""
    if mapping.get("draft"):
        return
    if is_sequential(mapping):
        parse_sequential(name, mapping)
        return
    check_spec(name, mapping)
    provider = provider_of(name, mapping)
    query = str(mapping.get("query") or "")
    if provider in PAGE_PROVIDERS and "{%" not in query:
        from runwright.providers.scrape import parse_query

        shown = _TEMPLATE.sub("x", query)
        try:
            parse_query(shown)
        except ProviderError as exc:
            message = exc.message.replace(repr(shown), repr(query))
            raise InputError(f"check {name!r}: {message}", hint=exc.hint) from None
        except ValueError as exc:
            raise InputError(f"check {name!r}: {exc}") from None


def definitions(
    names: Sequence[str], checks: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The mappings of ``names``; an unknown name is an InputError listing the known ones."""
    out: dict[str, Mapping[str, Any]] = {}
    for name in names:
        if name not in checks:
            raise InputError(
                f"analysis names unknown check {name!r}",
                hint="declared checks: " + (", ".join(sorted(checks)) or "none"),
            )
        out[name] = checks[name]
    return out


def compare_settings(name: str, mapping: Mapping[str, Any]) -> CompareSettings:
    direction = str(mapping.get("direction") or "higher_is_worse")
    if direction not in get_args(Direction):
        raise InputError(
            f"check {name!r}: direction must be one of {', '.join(get_args(Direction))}"
        )
    try:
        return CompareSettings(
            min_samples=int(mapping.get("min_samples", 10)),
            alpha=float(mapping.get("alpha", 0.05)),
            direction=direction,  # type: ignore[arg-type]
            min_effect=float(mapping.get("min_effect", 0.0)),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"check {name!r}: cannot read its comparison settings: {exc}") from None


@dataclass(frozen=True)
class CompareSettings:
    min_samples: int = 10
    alpha: float = 0.05
    direction: Direction = "higher_is_worse"
    min_effect: float = 0.0


def render_check(
    name: str, mapping: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The mapping with its templated settings rendered (a command's query shell-quoted)."""
    provider = provider_of(name, mapping)
    alarm = provider == "cloudwatch" and mapping.get("alarm")
    out = alarm_check(mapping) if alarm else dict(mapping)
    for key in ("url", "query", "baseline_url", "baseline_query", "endpoint_url", "region"):
        if isinstance(out.get(key), str):
            shell = provider == "command" and key in ("query", "baseline_query")
            out[key] = render(out[key], variables, shell=shell, where=f"check {name}: {key}")
    if isinstance(out.get("headers"), Mapping):
        out["headers"] = {
            str(k): render(str(v), variables, where=f"check {name}: headers")
            for k, v in out["headers"].items()
        }
    return out


def build_provider(
    name: str, mapping: Mapping[str, Any], clock: Clock, environ: Mapping[str, str] | None = None
) -> Provider:
    """A provider from a rendered check mapping."""
    provider = provider_of(name, mapping)
    interval = parse_check_interval(mapping)
    try:
        timeout = parse_duration(mapping.get("timeout") or max(1.0, min(10.0, interval)))
    except ValueError as exc:
        raise InputError(f"check {name!r}: timeout: {exc}") from None
    url = str(mapping.get("url") or "")
    headers = {str(k): str(v) for k, v in (mapping.get("headers") or {}).items()}
    if provider == "scrape":
        from runwright.providers.scrape import ScrapeProvider

        return ScrapeProvider(
            HttpSettings(url=url, timeout_seconds=timeout, headers=headers), clock
        )
    if provider == "prometheus":
        from runwright.providers.prometheus import PrometheusProvider, PrometheusSettings

        aggregate = mapping.get("aggregate")
        if aggregate not in (None, "sum", "avg", "min", "max"):
            raise InputError(f"check {name!r}: aggregate must be sum, avg, min or max")
        settings = PrometheusSettings(
            url=url, timeout_seconds=timeout, headers=headers, aggregate=aggregate
        )
        return PrometheusProvider(settings, clock)
    if provider == "http":
        from runwright.providers.http import HttpProbeProvider, ProbeSettings

        expect = mapping.get("expect_status") or ()
        codes = tuple(int(c) for c in (expect if isinstance(expect, list | tuple) else [expect]))
        probe = ProbeSettings(
            url=url,
            method=str(mapping.get("method") or "GET"),
            timeout_seconds=timeout,
            headers=headers,
            expect_status=codes,
        )
        return HttpProbeProvider(probe, clock)
    if provider == "cloudwatch":
        return _cloudwatch(name, mapping, clock)
    from runwright.providers.command import CommandProvider, CommandSettings

    env = dict(environ) if environ else None
    return CommandProvider(
        CommandSettings(timeout_seconds=timeout, cwd=mapping.get("cwd"), env=env), clock
    )


def _cloudwatch(name: str, mapping: Mapping[str, Any], clock: Clock) -> Provider:
    from runwright.aws.session import AwsSettings
    from runwright.providers.cloudwatch import STATS, CloudWatchProvider, CloudWatchSettings

    stat = str(mapping.get("stat") or "Average")
    if stat not in STATS:
        raise InputError(f"check {name!r}: stat must be one of {', '.join(STATS)}")
    try:
        period = int(parse_duration(mapping.get("period") or 60))
    except ValueError as exc:
        raise InputError(f"check {name!r}: period: {exc}") from None
    aws = AwsSettings(
        region=mapping.get("region"),
        profile=mapping.get("profile"),
        endpoint_url=mapping.get("endpoint_url"),
    )
    settings = CloudWatchSettings(aws, stat, max(1, period), alarm=bool(mapping.get("alarm")))
    return CloudWatchProvider(settings, clock)


def parse_check_interval(mapping: Mapping[str, Any]) -> float:
    try:
        return parse_duration(mapping.get("interval") or 60.0)
    except ValueError:
        return 60.0


def _needs_priming(provider: str, query: str) -> bool:
    if provider not in PAGE_PROVIDERS:
        return False
    from runwright.providers.scrape import needs_previous, parse_query

    return needs_previous(parse_query(query))


# --- what plan shows -------------------------------------------------------------------------


def plan_lines(
    names: Sequence[str],
    checks: Mapping[str, Mapping[str, Any]],
    *,
    compare: str | None = None,
    traffic: Traffic | None = None,
    share: float | None = None,
) -> tuple[list[str], float]:
    """Lines describing each check and the worst-case seconds from a fault to rollback start
    (a sequential check has none: its lines give the expected requests and time instead)."""
    lines: list[str] = []
    worst = 0.0
    found = definitions(names, checks)
    split = _split(found)
    for name, mapping in found.items():
        rules = check_rules(name, mapping)
        if isinstance(rules, SequentialSpec):
            lines += plan_sequential(rules, split, compare, traffic, share)
            continue
        spec = rules
        seconds = worst_case(spec)
        rule = (
            f"for {format_duration(spec.for_seconds)}"
            if spec.for_seconds is not None
            else f"failure_limit {spec.limit}"
        )
        delay = (
            f" after the initial delay of {format_duration(spec.initial_delay_seconds)}"
            if spec.initial_delay_seconds
            else ""
        )
        lines.append(
            f"check {name}: {spec.condition} on {provider_of(name, mapping)} "
            f"'{spec.query}' every {format_duration(spec.interval_seconds)}, {rule}: "
            f"worst case {format_duration(seconds)} from a fault to the start of rollback{delay}"
        )
        if compares(compare, mapping):
            c = compare_settings(name, mapping)
            lines.append(
                f"check {name}: compared with the stable version when the window ends "
                f"(Mann-Whitney p < {c.alpha:g}, {c.direction}, at least {c.min_samples} "
                "samples each, else a person decides)"
            )
        worst = max(worst, seconds + spec.initial_delay_seconds)
    return lines, worst


# --- running an analysis ---------------------------------------------------------------------


def _split(found: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(is_sequential(m) for m in found.values())


@dataclass
class _Watch:
    name: str
    spec: CheckSpec
    mapping: Mapping[str, Any]
    provider: Provider
    evaluator: CheckEvaluator
    due: float
    priming: bool
    baseline: Provider | None = None
    baseline_query: str = ""
    compare: CompareSettings | None = None
    canary_values: list[float] = field(default_factory=list)
    baseline_values: list[float] = field(default_factory=list)
    paused_told: bool = False


def _row(record: CheckRecord, note: str = "") -> dict[str, Any]:
    detail = record.reason
    if record.error:
        detail += f": {record.error}"
    if note and note not in detail:
        detail += f" ({note})"
    return {
        "check": record.check,
        "at": record.at,
        "query": record.query,
        "value": record.value,
        "condition": record.condition,
        "verdict": record.verdict.value,
        "detail": detail,
        "breached": bool(record.breached),
    }


class _Analysis:
    def __init__(
        self,
        ctx: StepContext,
        names: Sequence[str],
        duration: float,
        compare: str | None,
        restore: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.restore = restore
        self.restored = False
        self.names = list(names)
        self.duration = duration
        self.compare = compare
        self.watches: list[_Watch] = []
        self.sequential: list[SequentialWatch] = []
        self.not_judged: list[str] = []
        self.schedule_origin: tuple[float, datetime] = (0.0, ctx.clock.now())

    async def setup(self) -> None:
        ctx = self.ctx
        checks = ctx.spec.get("checks") or ctx.services.checks
        found = definitions(self.names, checks)
        factory = ctx.services.provider_factory or self._default_factory
        start = ctx.clock.monotonic()
        started_at = ctx.clock.now()
        self.schedule_origin = (start, started_at)
        baseline_vars: Mapping[str, Any] | None = None
        for name, mapping in found.items():
            if is_sequential(mapping):
                self._add_sequential(name, mapping, _split(found))
                continue
            rendered = render_check(name, mapping, ctx.variables)
            spec = check_spec(name, rendered)
            provider = provider_of(name, rendered)
            query = str(rendered.get("query") or "success")
            watch = _Watch(
                name=name,
                spec=spec,
                mapping=rendered,
                provider=factory(name, rendered, ctx.clock),
                evaluator=CheckEvaluator(spec, started_at),
                due=start + spec.initial_delay_seconds,
                priming=_needs_priming(provider, query),
            )
            self.watches.append(watch)
            if compares(self.compare, mapping):
                if baseline_vars is None:
                    baseline_vars = await self._baseline_variables()
                if not baseline_vars:
                    ctx.output(f"{name}: no stable version to compare with (first release)")
                    continue
                other = render_check(name, mapping, baseline_vars)
                other["url"] = other.get("baseline_url") or other.get("url")
                other["query"] = other.get("baseline_query") or other.get("query")
                if other.get("url") == rendered.get("url") and other["query"] == query:
                    raise InputError(
                        f"check {name!r}: for the stable version it reads the same url and query "
                        "as for the canary, so there is nothing to compare",
                        hint="name {{ version }} in the query or {{ new_url }} in the url, "
                        "or set baseline_query / baseline_url",
                    )
                watch.baseline = factory(name, other, ctx.clock)
                watch.baseline_query = str(other["query"] or "success")
                watch.compare = compare_settings(name, mapping)

    def _add_sequential(self, name: str, mapping: Mapping[str, Any], split: int) -> None:
        ctx = self.ctx
        spec = parse_sequential(name, mapping)
        canary = str(ctx.variables.get("version") or "")
        previous = str(ctx.variables.get("previous_version") or "")
        why = None
        if self.compare == "none":
            why = f"{name}: not judged here: the stable version takes no traffic"
        elif not previous or previous == canary:
            why = f"{name}: no stable version to compare with (first release)"
        if why:
            ctx.output(why)
            self.not_judged.append(why)
            return
        router = ctx.services.router
        if router is None:
            raise InputError(
                f"check {name!r} reads the router, but this runbook has no service router",
                hint="declare service.router",
            )
        self.sequential.append(
            SequentialWatch(
                spec,
                Sides(canary=canary, baseline=previous),
                split=split,
                router=router,
                clock=ctx.clock,
                measured=ctx.measured,
                on_reject=self._restore,
            )
        )

    def _default_factory(self, name: str, mapping: Mapping[str, Any], clock: Clock) -> Provider:
        if provider_of(name, mapping) == "router":
            router = self.ctx.services.router
            if router is None:
                raise InputError(
                    f"check {name!r} reads the router, but this runbook has no service router",
                    hint="declare service.router, or use provider: scrape with a url",
                )
            return RouterProvider(router, clock)
        return build_provider(name, mapping, clock, self.ctx.services.environ)

    async def _baseline_variables(self) -> dict[str, Any]:
        ctx = self.ctx
        previous = str(ctx.variables.get("previous_version") or "")
        if not previous:
            return {}
        out: dict[str, Any] = {**ctx.variables, "version": previous}
        driver, service = ctx.services.driver, ctx.services.service
        if driver is not None and service is not None:
            for inst in await driver.instances(service.name):
                if inst.version == previous:
                    out["new_url"] = f"http://{inst.host}:{inst.port}"
                    out["new_port"] = inst.port
                    break
        return out

    async def close(self) -> None:
        for watch in self.watches:
            for provider in (watch.provider, watch.baseline):
                if provider is not None:
                    try:
                        await provider.aclose()
                    except Exception:  # closing must not hide the verdict
                        logger.warning("could not close the provider of %s", watch.name)

    async def run(self) -> Outcome:
        ctx = self.ctx
        end = ctx.clock.monotonic() + self.duration
        names = ", ".join(self.names)
        ctx.output(f"analysing {names} for {format_duration(self.duration)}")
        if not self.sequential:
            return await self._timed(end) or self._conclude()
        tasks = [asyncio.ensure_future(self._timed(end))]
        tasks += [asyncio.ensure_future(self._sequential(w, end)) for w in self.sequential]
        try:
            for done in asyncio.as_completed(tasks):
                failed = await done
                if failed is not None:
                    return failed
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self._conclude()

    async def _restore(self) -> None:
        """Put traffic back the moment a check fails (once), before anything is written."""
        if self.restore is None or self.restored:
            return
        self.restored = True
        await self.restore()

    async def _sequential(self, watch: SequentialWatch, end: float) -> Outcome | None:
        reason = await watch.run(end)
        if reason is None:
            return None
        self.ctx.output(f"FAILED {reason}")
        return Outcome.fail(
            reason,
            retryable=False,
            check=watch.spec.name,
            verdict=watch.verdict.value,
            checks=self._verdicts(),
        )

    async def _timed(self, end: float) -> Outcome | None:
        ctx = self.ctx
        clock = ctx.clock
        while self.watches:
            now = clock.monotonic()
            due = [w for w in self.watches if w.due <= now + 1e-9]
            if due:
                rows = await asyncio.gather(*(self._measure(w) for w in due))
                failed = self._failed()
                if failed is not None:
                    await self._restore()
                ctx.measured([r for batch in rows for r in batch])
                if failed is not None:
                    return failed
                self._tell_paused()
            upcoming = min(w.due for w in self.watches)
            if upcoming > end + 1e-9:
                break
            await clock.sleep(max(0.0, upcoming - clock.monotonic()))
        return None

    async def _measure(self, watch: _Watch) -> list[dict[str, Any]]:
        clock = self.ctx.clock
        at, began = clock.now(), clock.monotonic()
        interval = watch.spec.interval_seconds
        # Readings keep the schedule the window started with, so sleeps that overshoot do not
        # add up and cost the window its last reading (after a stall: from now). The rules
        # judge each reading at its scheduled time, as Prometheus judges rule evaluations, so
        # a late wake-up cannot make a streak look shorter than it was; rows keep ``at``.
        origin_mono, origin_at = self.schedule_origin
        scheduled = watch.due if began - watch.due < interval else began
        tick = origin_at + timedelta(seconds=scheduled - origin_mono)
        nxt = watch.due + interval
        watch.due = nxt if nxt > began else began + interval
        query = str(watch.mapping.get("query") or "success")
        canary, stable = await asyncio.gather(
            self._read(watch.provider, query),
            self._read(watch.baseline, watch.baseline_query),
        )
        rows: list[dict[str, Any]] = []
        primed_now = False
        if isinstance(canary, ProviderError):
            record = watch.evaluator.observe_error(tick, str(canary), query=query)
            rows.append(_row(record) | {"at": at})
        elif canary is not None and watch.priming:
            watch.priming, primed_now = False, True
            record = CheckRecord(
                watch.name, at, canary.query, canary.value, str(watch.spec.condition), None,
                watch.evaluator.verdict, "first scrape: rates are measured from here",
            )  # fmt: skip
            rows.append(_row(record))
        elif canary is not None:
            record = watch.evaluator.observe(
                tick, canary.value, query=canary.query, note=canary.note
            )
            rows.append(_row(record, canary.note) | {"at": at})
            if canary.value is not None:
                watch.canary_values.append(canary.value)
        if watch.baseline is not None and stable is not None:
            rows.append(self._baseline_row(watch, at, stable, keep=not primed_now))
        return rows

    def _baseline_row(self, watch: _Watch, at: Any, stable: Any, *, keep: bool) -> dict[str, Any]:
        if isinstance(stable, ProviderError):
            value, detail = None, f"provider error: {stable}"
        else:
            value, detail = stable.value, stable.note or "stable version sample"
        if value is not None and keep:
            watch.baseline_values.append(value)
        return {
            "check": f"{watch.name} (baseline)",
            "at": at,
            "query": watch.baseline_query,
            "value": value,
            "condition": "compared with the canary",
            "verdict": "sample",
            "detail": detail,
            "breached": False,
        }

    @staticmethod
    async def _read(provider: Provider | None, query: str) -> Any:
        if provider is None:
            return None
        try:
            return await provider.measure(query)
        except ProviderError as exc:
            return exc

    def _failed(self) -> Outcome | None:
        for watch in self.watches:
            result = watch.evaluator.result
            if result.verdict in (Verdict.FAILED, Verdict.ERROR):
                self.ctx.output(f"FAILED {result.reason}")
                return Outcome.fail(
                    result.reason,
                    retryable=False,
                    check=watch.name,
                    verdict=result.verdict.value,
                    checks=self._verdicts(),
                )
        return None

    def _tell_paused(self) -> None:
        for watch in self.watches:
            result = watch.evaluator.result
            if result.verdict is Verdict.PAUSED and not watch.paused_told:
                watch.paused_told = True
                self.ctx.output(f"PAUSED {result.reason}; still measuring")
                self.ctx.record("analysis.paused", {"check": watch.name, "reason": result.reason})

    def _verdicts(self) -> dict[str, dict[str, str]]:
        out = {
            w.name: {"verdict": w.evaluator.verdict.value, "reason": w.evaluator.result.reason}
            for w in self.watches
        }
        for s in self.sequential:
            out[s.spec.name] = {"verdict": s.verdict.value, "reason": s.reason}
        return out

    def _conclude(self) -> Outcome:
        ctx = self.ctx
        at = ctx.clock.now()
        paused: list[str] = []
        passed: list[str] = []
        rows: list[Mapping[str, Any]] = []
        passed += self.not_judged
        for seq in self.sequential:
            state, reason = seq.conclude(self.duration)
            (paused if state is Verdict.PAUSED else passed).append(reason)
        for watch in self.watches:
            result = watch.evaluator.conclude(at)
            (paused if result.verdict is Verdict.PAUSED else passed).append(result.reason)
            if watch.compare is None:
                continue
            judged = compare_baseline(
                watch.baseline_values,
                watch.canary_values,
                metric=watch.name,
                min_samples=watch.compare.min_samples,
                alpha=watch.compare.alpha,
                direction=watch.compare.direction,
                min_effect=watch.compare.min_effect,
            )
            verdict = {
                Comparison.PASS: Verdict.PASSED,
                Comparison.FAIL: Verdict.FAILED,
                Comparison.INCONCLUSIVE: Verdict.PAUSED,
            }[judged.verdict]
            rows.append(
                {
                    "check": watch.name,
                    "at": at,
                    "query": f"{watch.mapping.get('query')} vs {watch.baseline_query}",
                    "value": judged.p_value,
                    "condition": f"baseline comparison: p < {watch.compare.alpha:g}, "
                    f"{watch.compare.direction}",
                    "verdict": verdict,
                    "detail": judged.reason,
                    "breached": judged.verdict is Comparison.FAIL,
                }
            )
            if judged.verdict is Comparison.FAIL:
                ctx.measured(rows)
                ctx.output(f"FAILED {judged.reason}")
                return Outcome.fail(
                    f"{judged.reason}: the canary is worse than the stable version",
                    retryable=False,
                    check=watch.name,
                    verdict=Verdict.FAILED,
                    checks=self._verdicts(),
                )
            if judged.verdict is Comparison.INCONCLUSIVE:
                paused.append(f"{judged.reason}; a person decides")
            else:
                passed.append(judged.reason)
        ctx.measured(rows)
        if paused:
            reason = "; ".join(paused)
            ctx.output(f"PAUSED {reason}")
            return Outcome.blocked(
                f"analysis paused: {reason}. Resume to measure again "
                f"(runwright resume {ctx.run.id}) or roll back (runwright abort {ctx.run.id})",
                on=RunStatus.AWAITING_DECISION,
                checks=self._verdicts(),
            )
        ctx.output("passed: " + "; ".join(passed))
        return Outcome.ok("; ".join(passed), checks=self._verdicts())


async def run_analysis(
    ctx: StepContext,
    check_names: Sequence[str],
    duration: float,
    *,
    compare: str | None = None,
    restore: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Watch ``check_names`` for ``duration`` seconds on ``ctx.clock``; see the module docstring.

    Check mappings come from ``ctx.spec["checks"]`` (put there when the run is planned) or the
    ``checks`` service. Fails on the first failed check, blocks awaiting a decision when
    a check ends paused, succeeds when every check met its condition. Refuses drafts and unknown
    names.
    """
    analysis = _Analysis(ctx, check_names, duration, compare, restore)
    try:
        try:
            await analysis.setup()
        except InputError as exc:
            return Outcome.fail(str(exc), retryable=False)
        except ProviderError as exc:
            return Outcome.fail(str(exc), retryable=exc.retryable)
        return await analysis.run()
    finally:
        await analysis.close()


class AnalysisKind:
    key = "analysis"
    params = AnalysisParams

    def describe(self, params: Mapping[str, Any], ctx: PlanContext) -> list[str]:
        p = AnalysisParams.model_validate(params)
        against = " against the stable version" if p.compare == "baseline" else ""
        return [
            f"analyse {', '.join(p.checks)} for {format_duration(p.duration)}{against}; "
            "roll back as soon as one fails"
        ]

    async def execute(self, ctx: StepContext) -> Outcome:
        p = AnalysisParams.model_validate(ctx.params)
        return await run_analysis(ctx, p.checks, p.duration, compare=p.compare)


KIND = AnalysisKind()
