"""Sandboxed Jinja2 templating for runbook values, shell-quoted by default.

Runbook values reach shells, URLs and request bodies. Rendering is sandboxed (a runbook
cannot reach Python internals) and strict (an undefined name is an error, not an empty
string). In shell commands every interpolated value is quoted with ``shlex.quote`` unless the
author writes ``{{ value | raw }}``, so a version string like ``1.2; rm -rf /`` stays one word.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment

from runwright.errors import InputError


class Raw(str):
    """A value the author marked as safe to splice into a shell command unquoted."""

    __slots__ = ()


class Placeholder(str):
    """Stands for a value only known at run time (e.g. captured by an earlier step)."""

    __slots__ = ()


def _quote(value: Any) -> Any:
    if isinstance(value, Raw | Placeholder):
        return str(value)
    if value is None:
        return "''"
    return shlex.quote(str(value))


def _raw(value: Any) -> Raw:
    return Raw("" if value is None else str(value))


def _make(shell: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_quote if shell else None,
    )
    env.filters["raw"] = _raw
    env.filters["quote"] = lambda v: Raw(shlex.quote(str(v)))
    return env


_SHELL = _make(True)
_PLAIN = _make(False)


def render(
    template: str, context: Mapping[str, Any], *, shell: bool = False, where: str = ""
) -> str:
    """Render ``template``; raise InputError naming ``where`` on any template problem."""
    if "{{" not in template and "{%" not in template:
        return template
    env = _SHELL if shell else _PLAIN
    try:
        return env.from_string(template).render(**context)
    except UndefinedError as exc:
        names = ", ".join(sorted(context)) or "none"
        raise InputError(
            f"{where + ': ' if where else ''}undefined variable in template: {exc.message}",
            hint=f"define it under vars (available: {names})",
        ) from None
    except TemplateError as exc:
        raise InputError(
            f"{where + ': ' if where else ''}template error: {exc}",
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
