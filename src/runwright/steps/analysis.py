"""``analysis``: judge a release by its metrics while it runs, and say exactly why it stops.

Hand-written runbooks roll back on rules such as "error rate > 1% for 5 minutes". Here such a
rule is a named check in the runbook's ``checks:`` section, measured every ``interval`` for the
step's ``duration``. Every reading is stored (query, value, condition, verdict) so a rollback
can always be explained. The step returns as soon as a check fails, within one interval of the
measurement that decides it, so the rollback starts at once; a check that is paused (no data,
too few samples to compare) blocks the run for a person to decide: it never passes silently.
``wait`` steps and the pauses and bake of a release run their time under ``run_analysis``.

A check names its provider and settings beside its rules; the runbook loader reads it into
the provider's model (``model.checks``), refusing unknown keys, and ``parse_check`` builds its
rules from that::

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
from typing import Any, Literal

from pydantic import Field

from runwright.engine.checks import CheckEvaluator, CheckRecord, CheckSpec, parse_check
from runwright.engine.clock import Clock
from runwright.engine.executor import Outcome
from runwright.engine.sequential import SequentialSpec, is_sequential, parse_sequential
from runwright.engine.stats import Comparison, Direction, compare_baseline
from runwright.errors import InputError, ProviderError
from runwright.model.checks import (
    AnyCheck,
    CloudWatchCheck,
    Endpoint,
    HttpCheck,
    PrometheusCheck,
    RouterCheck,
    ScrapeCheck,
    check_from,
)
from runwright.model.durations import format_duration
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus, Verdict
from runwright.model.templating import render
from runwright.model.types import Duration
from runwright.providers.base import HttpSettings, Provider
from runwright.steps.base import Params, PlanContext
from runwright.steps.router_metrics import RouterProvider
from runwright.steps.selectors import version_selectors
from runwright.steps.sequential_watch import SequentialWatch, Sides
from runwright.steps.services import StepContext

logger = logging.getLogger(__name__)

PAGE_PROVIDERS = ("scrape", "router")
"""Providers that evaluate the scrape query subset over a metrics page (rates need two reads)."""
Compare = Literal["baseline", "none"]
"""``baseline``: compare every check with the stable version; ``none``: compare none, even a
check that asks for it (a bake, where the stable version takes no traffic)."""


def compares(step_compare: str | None, check: AnyCheck) -> bool:
    """Whether a check is compared with the stable version in this step."""
    if step_compare is not None:
        return step_compare == "baseline"
    return check.compare == "baseline"


class AnalysisParams(Params):
    checks: list[str] = Field(min_length=1)
    duration: Duration
    compare: Compare | None = None


# --- reading a check's definition ------------------------------------------------------------


def check_spec(name: str, check: AnyCheck) -> CheckSpec:
    """The check's rules, refusing drafts and checks with nothing to measure."""
    if check.draft:
        where = f" (read from line {check.line})" if check.line else ""
        raise InputError(
            f"check {name} is a draft: confirm it{where}",
            hint="review its threshold, give it a provider, url and query, "
            "then remove 'draft: true'",
        )
    if isinstance(check, CloudWatchCheck):
        check = alarm_check(check)
    if check.provider != "http" and not check.query.strip():
        raise InputError(f"check {name!r} has no query", hint="add query: ... to the check")
    if isinstance(check, Endpoint) and not check.url.strip():
        raise InputError(
            f"check {name!r} needs a url for provider {check.provider}",
            hint="e.g. url: http://prometheus:9090, or '{{ new_url }}/metrics' for scrape",
        )
    return parse_check(name, check, query=check.query or "success")


def alarm_check(check: CloudWatchCheck) -> CloudWatchCheck:
    """``alarm: NAME`` reads the alarm: its query is the name, and it fails while the alarm
    is in ALARM (value 1) unless the check says otherwise."""
    if not check.alarm:
        return check
    update: dict[str, Any] = {"query": check.query or check.alarm}
    if check.fail_if is None and check.pass_if is None:
        update["fail_if"] = "> 0"
    return check.model_copy(update=update)


def check_rules(name: str, check: AnyCheck) -> CheckSpec | SequentialSpec:
    """A check's rules, whichever method judges it (drafts refused as ``check_spec`` does)."""
    if is_sequential(check) and not check.draft:
        return parse_sequential(name, check)
    return check_spec(name, check)


_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def validate_check(name: str, check: AnyCheck) -> None:
    """Refuse, when a runbook is loaded, a check that could never be measured: its rules
    (condition, ``for`` or ``failure_limit``, ``no_data``...), its provider and url, and a
    scrape or router query outside the supported subset. Drafts (from ``import``) wait for a
    person and are refused only when a run uses them."""
    if check.draft:
        return
    if is_sequential(check):
        parse_sequential(name, check)
        return
    check_spec(name, check)
    query = check.query
    if check.provider in PAGE_PROVIDERS and "{%" not in query:
        from runwright.providers.scrape import parse_query

        shown = _TEMPLATE.sub("x", query)
        try:
            parse_query(shown)
        except ProviderError as exc:
            message = exc.message.replace(repr(shown), repr(query))
            raise InputError(f"check {name!r}: {message}", hint=exc.hint) from None
        except ValueError as exc:
            raise InputError(f"check {name!r}: {exc}") from None


def definitions(names: Sequence[str], checks: Mapping[str, AnyCheck]) -> dict[str, AnyCheck]:
    """The definitions of ``names``; an unknown name is an InputError listing the known ones."""
    out: dict[str, AnyCheck] = {}
    for name in names:
        if name not in checks:
            raise InputError(
                f"analysis names unknown check {name!r}",
                hint="declared checks: " + (", ".join(sorted(checks)) or "none"),
            )
        out[name] = checks[name]
    return out


def stored_checks(stored: Mapping[str, object]) -> dict[str, AnyCheck]:
    """The definitions a run's spec carries (JSON, as planned), read back into models."""
    return {name: check_from(name, data) for name, data in stored.items()}


def compare_settings(name: str, check: AnyCheck) -> CompareSettings:
    try:
        return CompareSettings(
            min_samples=10 if check.min_samples is None else check.min_samples,
            alpha=0.05 if check.alpha is None else check.alpha,
            direction=check.direction or "higher_is_worse",
            min_effect=float(check.min_effect or 0.0),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"check {name!r}: cannot read its comparison settings: {exc}") from None


@dataclass(frozen=True)
class CompareSettings:
    min_samples: int = 10
    alpha: float = 0.05
    direction: Direction = "higher_is_worse"
    min_effect: float = 0.0


_TEMPLATED = ("url", "query", "baseline_url", "baseline_query", "endpoint_url", "region")


def render_check(name: str, check: AnyCheck, variables: Mapping[str, Any]) -> AnyCheck:
    """The check with its templated settings rendered (a command's query shell-quoted)."""
    out: AnyCheck = alarm_check(check) if isinstance(check, CloudWatchCheck) else check
    update: dict[str, Any] = {}
    for key in _TEMPLATED:
        value = getattr(out, key, None)
        if isinstance(value, str) and key in out.model_fields_set:
            shell = out.provider == "command" and key in ("query", "baseline_query")
            update[key] = render(value, variables, shell=shell, where=f"check {name}: {key}")
    if isinstance(out, Endpoint) and out.headers:
        update["headers"] = {
            k: render(v, variables, where=f"check {name}: headers") for k, v in out.headers.items()
        }
    return out.model_copy(update=update)


def url_of(check: AnyCheck) -> str:
    return check.url if isinstance(check, Endpoint) else ""


def build_provider(
    name: str, check: AnyCheck, clock: Clock, environ: Mapping[str, str] | None = None
) -> Provider:
    """A provider from a rendered check (``router`` checks read the run's router instead)."""
    timeout = check.timeout_seconds
    if isinstance(check, ScrapeCheck):
        from runwright.providers.scrape import ScrapeProvider

        settings = HttpSettings(url=check.url, timeout_seconds=timeout, headers=check.headers)
        return ScrapeProvider(settings, clock)
    if isinstance(check, PrometheusCheck):
        from runwright.providers.prometheus import PrometheusProvider, PrometheusSettings

        prometheus = PrometheusSettings(
            url=check.url, timeout_seconds=timeout, headers=check.headers, aggregate=check.aggregate
        )
        return PrometheusProvider(prometheus, clock)
    if isinstance(check, HttpCheck):
        from runwright.providers.http import HttpProbeProvider, ProbeSettings

        probe = ProbeSettings(
            url=check.url,
            method=check.method,
            timeout_seconds=timeout,
            headers=check.headers,
            expect_status=tuple(check.expect_status),
        )
        return HttpProbeProvider(probe, clock)
    if isinstance(check, CloudWatchCheck):
        return _cloudwatch(check, clock)
    if isinstance(check, RouterCheck):
        raise InputError(
            f"check {name!r} reads the router: the analysis builds it from the run's router"
        )
    from runwright.providers.command import CommandProvider, CommandSettings

    env = dict(environ) if environ else None
    return CommandProvider(CommandSettings(timeout_seconds=timeout, cwd=check.cwd, env=env), clock)


def _cloudwatch(check: CloudWatchCheck, clock: Clock) -> Provider:
    from runwright.aws.session import AwsSettings
    from runwright.providers.cloudwatch import CloudWatchProvider, CloudWatchSettings

    period = int(check.period or 60)
    aws = AwsSettings(region=check.region, profile=check.profile, endpoint_url=check.endpoint_url)
    settings = CloudWatchSettings(
        aws, check.stat or "Average", max(1, period), alarm=bool(check.alarm)
    )
    return CloudWatchProvider(settings, clock)


def _needs_priming(provider: str, query: str) -> bool:
    if provider not in PAGE_PROVIDERS:
        return False
    from runwright.providers.scrape import needs_previous, parse_query

    return needs_previous(parse_query(query))


# --- running an analysis ---------------------------------------------------------------------


def sequential_count(found: Mapping[str, AnyCheck]) -> int:
    return sum(is_sequential(c) for c in found.values())


@dataclass
class _Watch:
    name: str
    spec: CheckSpec
    check: AnyCheck
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


def _names_selector(check: AnyCheck) -> bool:
    """Whether a check's templates ask for a version's series selector."""
    text = check.model_dump_json()
    return "new_selector" in text or "old_selector" in text


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
        stored = ctx.spec.get("checks")
        checks = stored_checks(stored) if stored else ctx.services.checks
        found = definitions(self.names, checks)
        factory = ctx.services.provider_factory or self._default_factory
        start = ctx.clock.monotonic()
        started_at = ctx.clock.now()
        self.schedule_origin = (start, started_at)
        baseline_vars: Mapping[str, Any] | None = None
        variables: Mapping[str, Any] = ctx.variables
        if any(_names_selector(c) for c in found.values()):
            variables = {**ctx.variables, **await version_selectors(ctx)}
        for name, check in found.items():
            if is_sequential(check):
                self._add_sequential(name, check, sequential_count(found))
                continue
            rendered = render_check(name, check, variables)
            spec = check_spec(name, rendered)
            provider = rendered.provider
            query = rendered.query or "success"
            watch = _Watch(
                name=name,
                spec=spec,
                check=rendered,
                provider=factory(name, rendered, ctx.clock),
                evaluator=CheckEvaluator(spec, started_at),
                due=start + spec.initial_delay_seconds,
                priming=_needs_priming(provider, query),
            )
            self.watches.append(watch)
            if compares(self.compare, check):
                if baseline_vars is None:
                    baseline_vars = await self._baseline_variables()
                if not baseline_vars:
                    ctx.output(f"{name}: no stable version to compare with (first release)")
                    continue
                stable = render_check(name, check, baseline_vars)
                update = {"query": stable.baseline_query or stable.query}
                if isinstance(stable, Endpoint):
                    update["url"] = stable.baseline_url or stable.url
                other = stable.model_copy(update=update)
                if url_of(other) == url_of(rendered) and other.query == rendered.query:
                    raise InputError(
                        f"check {name!r}: for the stable version it reads the same url and query "
                        "as for the canary, so there is nothing to compare",
                        hint="name {{ version }} in the query or {{ new_url }} in the url, "
                        "or set baseline_query / baseline_url",
                    )
                watch.baseline = factory(name, other, ctx.clock)
                watch.baseline_query = other.query or "success"
                watch.compare = compare_settings(name, check)

    def _add_sequential(self, name: str, check: AnyCheck, split: int) -> None:
        ctx = self.ctx
        spec = parse_sequential(name, check)
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

    def _default_factory(self, name: str, check: AnyCheck, clock: Clock) -> Provider:
        if isinstance(check, RouterCheck):
            router = self.ctx.services.router
            if router is None:
                raise InputError(
                    f"check {name!r} reads the router, but this runbook has no service router",
                    hint="declare service.router, or use provider: scrape with a url",
                )
            return RouterProvider(router, clock)
        return build_provider(name, check, clock, self.ctx.services.environ)

    async def _baseline_variables(self) -> dict[str, Any]:
        ctx = self.ctx
        previous = str(ctx.variables.get("previous_version") or "")
        if not previous:
            return {}
        out: dict[str, Any] = {**ctx.variables, "version": previous}
        selectors = await version_selectors(ctx)  # the stable version's series is "new" here
        out.update(new_selector=selectors["old_selector"], old_selector=selectors["new_selector"])
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
        query = watch.check.query or "success"
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
                self.ctx.record(
                    EventType.ANALYSIS_PAUSED, {"check": watch.name, "reason": result.reason}
                )

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
                    "query": f"{watch.check.query} vs {watch.baseline_query}",
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

    Check definitions come from ``ctx.spec["checks"]`` (stored there as JSON when the run is
    planned, read back with ``check_from``) or the ``checks`` service. Fails on the first
    failed check, blocks awaiting a decision when a check ends paused, succeeds when every
    check met its condition. Refuses drafts and unknown names.
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

    def describe(self, p: AnalysisParams, ctx: PlanContext) -> list[str]:
        against = " against the stable version" if p.compare == "baseline" else ""
        return [
            f"analyse {', '.join(p.checks)} for {format_duration(p.duration)}{against}; "
            "roll back as soon as one fails"
        ]

    async def execute(self, ctx: StepContext, p: AnalysisParams) -> Outcome:
        return await run_analysis(ctx, p.checks, p.duration, compare=p.compare)


KIND = AnalysisKind()
