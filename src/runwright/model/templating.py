"""Sandboxed Jinja2 templating for runbook values, shell-quoted by default, bounded in cost.

Runbook values reach shells, URLs and request bodies. Rendering is sandboxed (a runbook
cannot reach Python internals, mutate values, or include other files) and strict (an
undefined name is an error, not an empty string). In shell commands every interpolated value
is quoted with ``shlex.quote``. ``{{ value | raw }}`` splices a value unquoted, but only a
value the runbook itself wrote: values that come from outside (``--version``, ``--var``,
output captured from a step) are ``Outside`` strings, and ``raw`` refuses them in a shell
command unless the author writes ``raw(unsafe=true)``, a visible opt-in that ``lint`` flags.
``{{ value | args }}`` is the safe way to pass several arguments in one value (``--var
flags="--fast --region eu"``): it splits the value as a shell would and quotes each word, so
a word can never become shell code.

A template is a small program, so each rendering has a budget (``limits``): loop iterations
and calls, bytes produced, and wall time. A template over budget is an input error, never a
hang or an exhausted machine.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError, meta, nodes

from runwright.errors import InputError
from runwright.model.template_limits import (
    BoundedSandbox,
    Budget,
    BudgetExceeded,
    LimitsExtension,
    guarded,
    instrument,
)


class Raw(str):
    """A value the author marked as safe to splice into a shell command unquoted."""

    __slots__ = ()


class Placeholder(str):
    """Stands for a value only known at run time (e.g. captured by an earlier step)."""

    __slots__ = ()


class Outside(str):
    """A value that came from outside the runbook (a flag, captured output); ``origin`` names
    where, for the message when ``raw`` refuses it."""

    origin: str

    def __new__(cls, value: str, origin: str = "a value from outside") -> Outside:
        self = super().__new__(cls, value)
        self.origin = origin
        return self


def outside(value: Any, origin: str) -> Any:
    """Mark every string inside ``value`` (dicts and lists too) as coming from ``origin``."""
    if isinstance(value, Outside | Placeholder):
        return value
    if isinstance(value, str):
        return Outside(value, origin)
    if isinstance(value, dict):
        return {k: outside(v, f"{origin}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [outside(v, origin) for v in value]
    return value


class RawRefused(TemplateError):
    pass


class ArgsRefused(TemplateError):
    pass


def _quote(value: Any) -> Any:
    if isinstance(value, Raw | Placeholder):
        return str(value)
    if value is None:
        return "''"
    return shlex.quote(str(value))


def _raw_shell(value: Any, unsafe: bool = False) -> Raw:
    if isinstance(value, Outside) and not unsafe:
        raise RawRefused(
            f"'raw' would splice {value.origin} unquoted into a shell command "
            f"(value {str(value)[:60]!r})"
        )
    return Raw("" if value is None else str(value))


def _args(value: Any) -> Raw:
    """Shell words of ``value``, each quoted: arguments from anywhere, never shell code."""
    try:
        words = shlex.split("" if value is None else str(value))
    except ValueError as exc:
        raise ArgsRefused(f"'args' cannot split {str(value)[:60]!r} into words: {exc}") from None
    return Raw(" ".join(shlex.quote(w) for w in words))


def _raw_plain(value: Any, unsafe: bool = False) -> Raw:
    return Raw("" if value is None else str(value))


def _make(shell: bool) -> BoundedSandbox:
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_quote if shell else None,
        extensions=[LimitsExtension],
    )
    env.filters["raw"] = _raw_shell if shell else _raw_plain
    env.filters["quote"] = lambda v: Raw(shlex.quote(str(v)))
    env.filters["args"] = _args
    guarded(env)
    return env


_SHELL = _make(True)
_PLAIN = _make(False)
_FORBIDDEN = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


@functools.lru_cache(maxsize=1024)
def _compiled(template: str, shell: bool) -> Template:
    env = _SHELL if shell else _PLAIN
    return env.from_string(instrument(env.parse(template), env))


def problem(template: str) -> str | None:
    """Why ``template`` can never render (a syntax error, a forbidden tag), else None."""
    if "{{" not in template and "{%" not in template:
        return None
    try:
        tree = _PLAIN.parse(template)
    except TemplateError as exc:
        return f"template error: {exc}"
    for node in tree.find_all(_FORBIDDEN):
        tag = type(node).__name__.lower().replace("fromimport", "from ... import")
        return f"{{% {tag} %}} is not allowed in runbook templates (line {node.lineno})"
    return None


def render(
    template: str, context: Mapping[str, Any], *, shell: bool = False, where: str = ""
) -> str:
    """Render ``template``; raise InputError naming ``where`` on any template problem."""
    if "{{" not in template and "{%" not in template:
        return template
    prefix = f"{where}: " if where else ""
    reason = problem(template)
    if reason is not None:
        raise InputError(prefix + reason, hint="check the {{ }} expression")
    try:
        with Budget.for_template(template) as budget:
            return budget.collect(_compiled(template, shell).generate(**context))
    except UndefinedError as exc:
        names = ", ".join(sorted(k for k in context if not k.startswith("_"))) or "none"
        raise InputError(
            f"{prefix}undefined variable in template: {exc.message}",
            hint=f"define it under vars (available: {names})",
        ) from None
    except RawRefused as exc:
        raise InputError(
            f"{prefix}{exc}",
            hint="drop '| raw' (values are shell-quoted for you); for several arguments in "
            "one value write '| args' (split into words, each quoted); if the command really "
            "needs it unquoted, write raw(unsafe=true) and set a strict version_pattern",
        ) from None
    except ArgsRefused as exc:
        raise InputError(f"{prefix}{exc}", hint="close the quote in the value") from None
    except BudgetExceeded as exc:
        raise InputError(f"{prefix}template too expensive: {exc}", hint=exc.hint) from None
    except TemplateError as exc:
        raise InputError(
            f"{prefix}template error: {exc}", hint="check the {{ }} expression"
        ) from None
    except (RecursionError, MemoryError):
        raise InputError(
            f"{prefix}template too expensive: it recurses too deeply",
            hint="a macro that calls itself needs a way to stop",
        ) from None
    except Exception as exc:  # any failure of a user's template is bad input, not a bug
        raise InputError(
            f"{prefix}template error: {type(exc).__name__}: {exc}",
            hint="check the {{ }} expression",
        ) from None


def render_value(value: Any, context: Mapping[str, Any], *, where: str = "") -> Any:
    """Render every string inside a JSON-like value (dicts, lists) without shell quoting."""
    if isinstance(value, str):
        return render(value, context, where=where)
    if isinstance(value, list):
        return [render_value(v, context, where=where) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context, where=where) for k, v in value.items()}
    return value


def variables_used(template: str) -> set[str]:
    """Top-level names a template refers to (for lint's undefined-variable check)."""
    try:
        return set(meta.find_undeclared_variables(_PLAIN.parse(template)))
    except TemplateError:
        return set()


def raw_uses(template: str) -> list[tuple[str, bool]]:
    """Each ``raw`` filter in ``template``: (the expression it is applied to, whether it says
    ``unsafe=true``), for lint."""
    try:
        tree = _PLAIN.parse(template)
    except TemplateError:
        return []
    out = []
    for node in tree.find_all(nodes.Filter):
        if node.name != "raw" or node.node is None:
            continue
        unsafe = any(
            kw.key == "unsafe" and isinstance(kw.value, nodes.Const) and bool(kw.value.value)
            for kw in node.kwargs
        )
        out.append((_expression(node.node), unsafe))
    return out


def _expression(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_expression(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_expression(node.node)}[{node.arg.value!r}]"
    if isinstance(node, nodes.Const):
        return repr(node.value)
    return "an expression"
