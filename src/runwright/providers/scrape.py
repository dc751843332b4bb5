"""Judge a release from a ``/metrics`` page alone, with no Prometheus server in between.

Small teams often have no Prometheus next to the service they deploy, yet the service (or
runwright's router) exposes ``/metrics``. This provider fetches that page on every
measurement and computes, between this scrape and the previous one *for the same query*,
rates, ratios and histogram quantiles. The first measurement of a query that needs two
scrapes therefore has no data.

The query language is a small, documented subset of PromQL where every expression is one
number (there are no vectors: matching series are always summed)::

    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := "-" unary | atom
    atom      := NUMBER | "(" expr ")" | selector
               | "rate" "(" selector ")" | "increase" "(" selector ")"
               | "histogram_quantile" "(" NUMBER "," (selector | "rate(" selector ")") ")"
    selector  := metric_name [ "{" matcher ("," matcher)* "}" ]
    matcher   := label ("=" | "!=" | "=~" | "!~") "string"

- ``name{...}`` is the sum of the matching series in the latest scrape (a gauge); no matching
  series is no data.
- ``increase(sel)`` is how much the matching counters grew since the previous scrape, summed;
  ``rate(sel)`` is that divided by the seconds between the scrapes. A counter that went down
  was reset and counts from zero; a series that appeared since counts from zero. If the
  metric exists on the page but no series matches (no 5xx yet), the increase is 0; if the
  metric name is unknown, there is no data (a typo must not pass).
- ``histogram_quantile(0.95, name_bucket{...})`` is the quantile of the observations made
  *between* the two scrapes (like PromQL's over ``rate(name_bucket[interval])``), with series
  summed per ``le`` and linear interpolation inside the bucket. No observation: no data.
- ``a / b`` with ``b == 0`` is no data: a ratio over no traffic judges nothing.
- Regular expressions are anchored, as in PromQL; a missing label matches as ``""``.

So ``rate(demo_requests_total{status=~"5.."}) / rate(demo_requests_total)`` is the error
ratio since the last measurement. Anything else (range selectors such as ``[5m]``, ``sum``,
``by``, ``offset``, comparison operators) is rejected with a message saying what is supported.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import httpx

from runwright.engine.clock import Clock
from runwright.errors import ProviderError
from runwright.providers import promtext
from runwright.providers.base import (
    HttpSettings,
    Measurement,
    Sample,
    clean_value,
    make_client,
    transport_error,
)

logger = logging.getLogger(__name__)

_HELP = (
    "the scrape query language supports metric selectors with label matchers, "
    "rate(), increase(), histogram_quantile(q, name_bucket), numbers, + - * / and parentheses "
    "(see runwright.providers.scrape)"
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/(){},=\[\]<>^%])
    )""",
    re.VERBOSE,
)
_FUNCTIONS = {"rate", "increase", "histogram_quantile"}
_KEYWORDS = {"by", "without", "offset", "on", "ignoring", "group_left", "group_right", "bool"}


# --- the query's syntax tree -------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...] = ()

    def select(self, page: promtext.Exposition) -> list[promtext.TextSample]:
        return [
            s
            for s in page.samples
            if s.name == self.name and all(m.matches(s.labels) for m in self.matchers)
        ]


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Increase:
    selector: Selector
    per_second: bool


@dataclass(frozen=True)
class Quantile:
    quantile: float
    selector: Selector


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Number | Selector | Increase | Quantile | Negate | Binary


def needs_previous(node: Node) -> bool:
    """Whether evaluating ``node`` needs a previous scrape."""
    if isinstance(node, Increase | Quantile):
        return True
    if isinstance(node, Negate):
        return needs_previous(node.operand)
    if isinstance(node, Binary):
        return needs_previous(node.left) or needs_previous(node.right)
    return False


def selectors(node: Node) -> list[Selector]:
    if isinstance(node, Selector):
        return [node]
    if isinstance(node, Increase | Quantile):
        return [node.selector]
    if isinstance(node, Negate):
        return selectors(node.operand)
    if isinstance(node, Binary):
        return selectors(node.left) + selectors(node.right)
    return []


# --- parsing -----------------------------------------------------------------------------


def parse_query(text: str) -> Node:
    """Parse a scrape query; raise ProviderError (not retryable) saying what is wrong."""
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek() is not None:
        parser.fail(f"unexpected {parser.peek()!r}")
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match:
                self.fail(f"cannot read {text[pos:].strip()[:20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def fail(self, message: str) -> NoReturn:
        raise ProviderError(f"scrape query {self.text!r}: {message}", retryable=False, hint=_HELP)

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            self.fail(
                f"expected {expected!r} but the query ended" if expected else "it ended early"
            )
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            self.fail(f"expected {expected!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            node = Binary(op, node, self.unary())
        self.reject_operator()
        return node

    def reject_operator(self) -> None:
        token = self.peek()
        if token in (">", "<", ">=", "<=", "==", "!="):
            self.fail(
                f"comparison {token!r} belongs in the check's condition (fail_if / pass_if), "
                "not in the query"
            )
        if token in ("^", "%"):
            self.fail(f"operator {token!r} is not supported")

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Negate(self.unary())
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Number(float(value))
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if kind != "ident":
            self.fail(f"unexpected {value!r}")
        if value in _KEYWORDS:
            self.fail(f"{value!r} is not supported: series are always summed")
        if self.peek() == "(":
            return self.call(value)
        return self.selector_rest(value)

    def call(self, name: str) -> Node:
        if name not in _FUNCTIONS:
            self.fail(f"function {name}() is not supported")
        self.take("(")
        node: Node
        if name == "histogram_quantile":
            kind, value = self.take()
            if kind != "number":
                self.fail("histogram_quantile needs a number such as 0.95 first")
            quantile = float(value)
            if not 0.0 <= quantile <= 1.0:
                self.fail(f"quantile {value} must be between 0 and 1")
            self.take(",")
            if self.peek() == "rate" and self.tokens[self.pos + 1 :][:1] == [("op", "(")]:
                self.take()
                self.take("(")
                sel = self.selector()
                self.take(")")
            else:
                sel = self.selector()
            if not sel.name.endswith("_bucket"):
                self.fail(f"histogram_quantile needs a *_bucket metric, got {sel.name!r}")
            node = Quantile(quantile, sel)
        else:
            node = Increase(self.selector(), per_second=name == "rate")
        self.take(")")
        return node

    def selector(self) -> Selector:
        kind, value = self.take()
        if kind != "ident" or value in _FUNCTIONS or value in _KEYWORDS:
            self.fail(f"expected a metric name, found {value!r}")
        return self.selector_rest(value)

    def selector_rest(self, name: str) -> Selector:
        matchers: list[Matcher] = []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                kind, label = self.take()
                if kind != "ident":
                    self.fail(f"expected a label name, found {label!r}")
                _, op = self.take()
                if op not in ("=", "!=", "=~", "!~"):
                    self.fail(f"expected =, !=, =~ or !~ after label {label!r}, found {op!r}")
                kind, quoted = self.take()
                if kind != "string":
                    self.fail(f"the value of label {label!r} must be a quoted string")
                text = _unquote(quoted)
                if op in ("=~", "!~"):
                    try:
                        re.compile(text)
                    except re.error as exc:
                        self.fail(f"bad regular expression {text!r}: {exc}")
                matchers.append(Matcher(label, op, text))
                if self.peek() == ",":
                    self.take()
                elif self.peek() != "}":
                    self.fail("expected ',' or '}' in label matchers")
            self.take("}")
        if self.peek() == "[":
            self.fail(
                "range selectors such as [5m] are not needed: rate() and increase() are "
                "computed between two scrapes, one check interval apart"
            )
        return Selector(name, tuple(matchers))


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# --- evaluation --------------------------------------------------------------------------


class _NoData(Exception):
    """Evaluation found nothing to judge; the message says why."""


@dataclass(frozen=True)
class _Scrape:
    page: promtext.Exposition
    monotonic: float


def evaluate(
    node: Node, current: promtext.Exposition, previous: promtext.Exposition | None, seconds: float
) -> tuple[float | None, str]:
    """Value of ``node`` between ``previous`` and ``current`` scrapes; (None, why) for no data."""
    try:
        value = _eval(node, current, previous, seconds)
    except _NoData as exc:
        return None, str(exc)
    cleaned = clean_value(value)
    return cleaned, "" if cleaned is not None else "the result is NaN"


def _eval(
    node: Node, cur: promtext.Exposition, prev: promtext.Exposition | None, seconds: float
) -> float:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Negate):
        return -_eval(node.operand, cur, prev, seconds)
    if isinstance(node, Binary):
        left = _eval(node.left, cur, prev, seconds)
        right = _eval(node.right, cur, prev, seconds)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if right == 0:
            raise _NoData("division by zero (no traffic between the scrapes?)")
        return left / right
    if isinstance(node, Selector):
        found = node.select(cur)
        if not found:
            raise _NoData(f"no series matches {_show(node)}")
        return math.fsum(s.value for s in found)
    if prev is None:
        raise _NoData("first scrape: this query needs a previous scrape to compare with")
    if isinstance(node, Increase):
        if not _known(node.selector.name, cur):
            raise _NoData(f"metric {node.selector.name!r} is not on the page")
        grown = math.fsum(_increases(node.selector, cur, prev).values())
        if not node.per_second:
            return grown
        if seconds <= 0:
            raise _NoData("the two scrapes were taken at the same time")
        return grown / seconds
    return _quantile(node, cur, prev)


def _known(name: str, page: promtext.Exposition) -> bool:
    if name in page.names() or name in page.types:
        return True
    return any(
        name == base + suffix
        for base in page.types
        for suffix in ("_total", "_bucket", "_sum", "_count")
    )


def _increases(
    selector: Selector, cur: promtext.Exposition, prev: promtext.Exposition
) -> dict[frozenset[tuple[str, str]], float]:
    before = {frozenset(s.labels.items()): s.value for s in selector.select(prev)}
    grown: dict[frozenset[tuple[str, str]], float] = {}
    for sample in selector.select(cur):
        key = frozenset(sample.labels.items())
        old = before.get(key, 0.0)
        grown[key] = sample.value - old if sample.value >= old else sample.value
    return grown


def _quantile(node: Quantile, cur: promtext.Exposition, prev: promtext.Exposition) -> float:
    per_le: dict[float, float] = {}
    for key, grown in _increases(node.selector, cur, prev).items():
        labels = dict(key)
        if "le" not in labels:
            continue
        try:
            bound = promtext.parse_value(labels["le"])
        except ValueError:
            continue
        per_le[bound] = per_le.get(bound, 0.0) + grown
    if len(per_le) < 2 or math.inf not in per_le:
        raise _NoData(f"{_show(node.selector)} has no complete histogram (buckets up to +Inf)")
    bounds = sorted(per_le)
    counts: list[float] = []
    for bound in bounds:
        counts.append(max(per_le[bound], counts[-1] if counts else 0.0))
    total = counts[-1]
    if total <= 0:
        raise _NoData(f"no observations of {_show(node.selector)} between the scrapes")
    rank = node.quantile * total
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if bounds[index] == math.inf:
        return bounds[-2]
    upper = bounds[index]
    lower = bounds[index - 1] if index > 0 else min(0.0, upper)
    below = counts[index - 1] if index > 0 else 0.0
    inside = counts[index] - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


def _show(selector: Selector) -> str:
    if not selector.matchers:
        return selector.name
    inner = ",".join(f'{m.label}{m.op}"{m.value}"' for m in selector.matchers)
    return f"{selector.name}{{{inner}}}"


# --- the provider ------------------------------------------------------------------------


class PageProvider:
    """Measures scrape queries against a metrics page that ``fetch`` reads afresh each time.

    Subclasses say where the page comes from: a ``/metrics`` URL here, the router's own
    per-backend counters in the ``router`` provider.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._previous: dict[str, _Scrape] = {}
        self._parsed: dict[str, Node] = {}

    async def fetch(self) -> promtext.Exposition:
        raise NotImplementedError

    async def measure(self, query: str) -> Measurement:
        node = self._parsed.get(query) or parse_query(query)
        self._parsed[query] = node
        page = await self.fetch()
        now = _Scrape(page, self._clock.monotonic())
        previous = self._previous.get(query)
        self._previous[query] = now
        seconds = now.monotonic - previous.monotonic if previous else 0.0
        value, note = evaluate(node, page, previous.page if previous else None, seconds)
        used = [s for sel in selectors(node) for s in sel.select(page)][:50]
        return Measurement(
            query=query,
            value=value,
            at=self._clock.now(),
            samples=tuple(
                Sample(labels={"__name__": s.name, **s.labels}, value=s.value) for s in used
            ),
            note=note,
        )

    def forget(self) -> None:
        """Drop previous scrapes, e.g. after traffic moved, so rates start afresh."""
        self._previous.clear()

    async def aclose(self) -> None:
        return None


class ScrapeProvider(PageProvider):
    """Measures scrape queries against one ``/metrics`` URL (``settings.url``)."""

    def __init__(
        self, settings: HttpSettings, clock: Clock, *, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(clock)
        self.settings = settings
        self._client = client or make_client(settings)
        self._owns_client = client is None

    async def fetch(self) -> promtext.Exposition:
        """Fetch and parse the metrics page once."""
        url = self.settings.url
        try:
            response = await self._client.get(url, headers={"Accept": "text/plain"})
        except httpx.HTTPError as exc:
            raise transport_error(
                "the metrics page", url, exc, self.settings.timeout_seconds
            ) from exc
        if response.status_code != 200:
            raise ProviderError(
                f"the metrics page at {url} answered HTTP {response.status_code}",
                hint="check the URL points at a /metrics endpoint",
            )
        try:
            return promtext.parse(response.text)
        except promtext.PromTextError as exc:
            raise ProviderError(
                f"the page at {url} is not in the Prometheus text format: {exc}",
                retryable=False,
            ) from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
