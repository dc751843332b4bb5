"""The cost budget of one template rendering: iterations, calls, bytes and seconds.

Jinja's sandbox stops a template from reaching Python internals, not from running forever
(``range(100000)`` nested twice) or building a gigabyte string (``"x" * 10**9``). Runbook
templates are tiny programs, so each rendering gets a budget, checked where work happens:
every loop iteration and call ticks it (loops are wrapped when the template is compiled),
operators and filters that can multiply sizes are checked *before* they allocate, and every
value produced counts against a byte budget. Over budget is ``BudgetExceeded``, which the
renderer reports as bad input.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_STEPS = 100_000
MAX_SECONDS = 2.0
MAX_VALUE = 1_000_000
MAX_BYTES = 16_000_000
MAX_OUTPUT = 1_000_000
MAX_WIDTH = 100_000
MAX_BITS = 65_536
_WIDE = re.compile(r"[{%][^{}%]*?\d{6,}")
_SIZED = (str, list, tuple, dict, bytes)


class BudgetExceeded(Exception):
    def __init__(self, message: str, hint: str = "make the template do less work") -> None:
        super().__init__(message)
        self.hint = hint


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "runwright_template_budget", default=None
)


class Budget:
    def __init__(self, steps: int, seconds: float = MAX_SECONDS) -> None:
        self.steps = steps
        self.bytes = MAX_BYTES
        self.deadline = time.monotonic() + seconds
        self._token: contextvars.Token[Budget | None] | None = None

    @classmethod
    def for_template(cls, template: str) -> Budget:
        # Literal text inside a loop is emitted without a check, so a long template gets
        # fewer iterations: iterations times template size stays bounded.
        return cls(max(100, min(MAX_STEPS, 20_000_000 // max(len(template), 1))))

    def __enter__(self) -> Budget:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise BudgetExceeded(
                "too many loop iterations or calls",
                "a runbook template should loop over a few items, not compute",
            )
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"rendering took over {MAX_SECONDS:g}s")

    def spend(self, size: int) -> None:
        if size > MAX_VALUE:
            raise BudgetExceeded(f"a value of {size:,} characters (limit {MAX_VALUE:,})")
        self.bytes -= size
        if self.bytes < 0:
            raise BudgetExceeded(f"more than {MAX_BYTES:,} characters produced")

    def collect(self, chunks: Iterable[str]) -> str:
        out: list[str] = []
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > MAX_OUTPUT:
                raise BudgetExceeded(f"output over {MAX_OUTPUT:,} characters")
            out.append(chunk)
            if time.monotonic() > self.deadline:
                raise BudgetExceeded(f"rendering took over {MAX_SECONDS:g}s")
        return "".join(out)


def _budget() -> Budget:
    budget = _CURRENT.get()
    if budget is None:  # rendering outside ``render`` (a test): a fresh budget
        budget = Budget(MAX_STEPS)
        _CURRENT.set(budget)
    return budget


def counted(value: Any) -> Any:
    if isinstance(value, _SIZED):
        _budget().spend(len(value))
    return value


def _check_width(*values: Any) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
            raise BudgetExceeded(f"the number {value} is too large here (limit {MAX_WIDTH:,})")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE.search(text):
        raise BudgetExceeded("a format width over 99,999")


def _check_join(items: Any, sep: Any = "") -> None:
    if isinstance(items, list | tuple):
        size = sum(len(i) if isinstance(i, str) else 16 for i in items)
        size += len(str(sep)) * len(items)
        if size > MAX_VALUE:
            raise BudgetExceeded(f"a joined value of {size:,} characters (limit {MAX_VALUE:,})")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
        if len(text) + grows > MAX_VALUE:
            raise BudgetExceeded("a replace() that would grow the text past the limit")


def _precheck(name: str, args: tuple[Any, ...]) -> None:
    """Refuse, before it runs, a filter or str method whose result would be huge."""
    if name in ("center", "ljust", "rjust", "zfill", "indent", "batch", "slice", "expandtabs"):
        _check_width(*args[1:])
    elif name in ("format", "format_map"):
        _check_format(args[0] if args else None)
    elif name == "join":
        _check_join(args[1] if len(args) > 1 else None, args[0] if args else "")
    elif name == "replace" and len(args) >= 3:
        _check_replace(args[0], args[1], args[2])


def _guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded_filter(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        plain = tuple(a for a in args if not _is_jinja_internal(a))
        if name == "join":
            _check_join(plain[0] if plain else None, plain[1] if len(plain) > 1 else "")
        elif name in ("center", "indent", "batch", "slice"):
            _check_width(*plain[1:], *kwargs.values())
        elif name == "format":
            _check_format(plain[0] if plain else None)
        elif name == "replace":
            _check_replace(*(plain + (None, None, None))[:3])
        return counted(fn(*args, **kwargs))

    return guarded_filter


def _is_jinja_internal(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("jinja2.") and not isinstance(value, str)


class LimitsExtension(Extension):
    """Holds the hooks compiled templates call: ``loop`` wraps every ``for`` iterable and
    ``sized`` every ``~`` concatenation."""

    identifier = "runwright.limits"

    def loop(self, iterable: Any) -> Iterator[Any]:
        budget = _budget()
        for item in iterable:
            budget.tick()
            yield item

    def sized(self, value: Any) -> Any:
        return counted(value)


def instrument(tree: nodes.Template, env: ImmutableSandboxedEnvironment) -> nodes.Template:
    """Wrap each loop's iterable and each concatenation of ``tree`` in the budget hooks."""
    ext = env.extensions[LimitsExtension.identifier]
    for loop in list(tree.find_all(nodes.For)):
        iterable: Any = loop.iter
        loop.iter = ext.call_method("loop", [iterable], lineno=loop.lineno)
    for concat in list(tree.find_all(nodes.Concat)):
        wrapped = ext.call_method("sized", [nodes.Concat(concat.nodes)], lineno=concat.lineno)
        concat.nodes = [wrapped]
    return tree


def _too_big(operator: str, left: Any, right: Any) -> bool:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        if ints:
            return bool(left.bit_length() + right.bit_length() > MAX_BITS)
        return any(
            isinstance(seq, _SIZED) and isinstance(n, int) and len(seq) * n > MAX_VALUE
            for seq, n in ((left, right), (right, left))
        )
    if operator == "**":
        return bool(ints and abs(left) > 1 and right > 0 and right * left.bit_length() > MAX_BITS)
    if operator == "+":
        sized = isinstance(left, _SIZED) and isinstance(right, _SIZED)
        return sized and len(left) + len(right) > MAX_VALUE
    return False


def _binop_check(operator: str, left: Any, right: Any) -> None:
    if operator == "%":
        _check_format(left)
    if _too_big(operator, left, right):
        raise BudgetExceeded(f"a value over the size limit (operator {operator})")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with calls ticking the budget and size-multiplying operators
    checked before they run."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _binop_check(operator, left, right)
        return counted(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _budget().tick()
        # The sandbox hands out str.format wrapped; the string is on the wrapped method.
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str):
            _precheck(getattr(__obj, "__name__", ""), (owner, *args, *kwargs.values()))
        return counted(super().call(__context, __obj, *args, **kwargs))


# Globals whose numeric arguments size their result (``lipsum(1000000)`` writes a million
# paragraphs in one call, with no loop to tick): each such argument is capped before the call.
GLOBAL_LIMITS = {"lipsum": 200, "range": MAX_WIDTH}


def _guard_global(name: str, fn: Callable[..., Any], limit: int) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded_global(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
                raise BudgetExceeded(f"{name}() with {value} (limit {limit:,})")
        return counted(fn(*args, **kwargs))

    return guarded_global


def guarded(env: ImmutableSandboxedEnvironment) -> None:
    """Put every filter, the size-making globals and the output finalizer of ``env`` under
    the budget."""
    for name, fn in list(env.filters.items()):
        env.filters[name] = _guard_filter(name, fn)
    for name, limit in GLOBAL_LIMITS.items():
        fn = env.globals.get(name)
        if callable(fn):
            env.globals[name] = _guard_global(name, fn, limit)
    inner = env.finalize
    env.finalize = (lambda v: counted(inner(v))) if inner else counted
