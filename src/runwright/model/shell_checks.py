"""Find a runbook's shell commands and refuse, at load, a ``{{ }}`` placed inside quotes.

The shell commands of a runbook are the steps' ``run`` (and the ``undo`` written as a
command), gate checks' ``run``, ``migrate``'s ``command``/``undo``/``current``, the
service's ``command``, command-driver calls and command-router ``route``, and the queries
of ``provider: command`` checks. Each is read by
``shell_context.misplaced``; every misplaced expression is an error at the expression's own
line and column, whatever its value will be: a value from ``--var``, the web form or the API
is treated exactly as one from the runbook.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runwright.errors import RunbookError
from runwright.model.shell_context import FIX, misplaced
from runwright.model.source import PathKey, Source

_SKIP = {"vars", "description", "procedure_text", "source", "checks", "sinks", "notify"}
_MIGRATE = ("command", "undo", "current")
_DRIVER = ("start", "stop", "list", "health")


def quoting_errors(source: Source, data: Any) -> list[RunbookError]:
    """One error per ``{{ }}`` that lands inside quotes (or backticks, a heredoc...)."""
    errors: list[RunbookError] = []
    for path, command in shell_commands(data):
        for found in misplaced(command):
            line, column = _locate(source, path, found.expression)
            errors.append(
                RunbookError(
                    f"{found.expression} is inside {found.context} of a shell command: "
                    "its value would not be quoted there",
                    file=source.file,
                    line=line,
                    column=column,
                    hint=FIX,
                )
            )
    return errors


def shell_commands(data: Any) -> Iterator[tuple[PathKey, str]]:
    """(path, text) of every shell command template in a runbook document."""
    if not isinstance(data, dict):
        return
    yield from _in_steps(data, ())
    checks = data.get("checks")
    for name, check in checks.items() if isinstance(checks, dict) else ():
        if isinstance(check, dict) and check.get("provider") == "command":
            yield from _strings(check, ("checks", str(name)), ("query", "baseline_query"))
    service = data.get("service")
    if isinstance(service, dict):
        yield from _strings(service, ("service",), ("command",))
        driver = service.get("driver")
        if isinstance(driver, dict) and driver.get("kind") == "command":
            yield from _strings(driver, ("service", "driver"), _DRIVER)
        router = service.get("router")
        if isinstance(router, dict) and router.get("kind") == "command":
            yield from _strings(router, ("service", "router"), ("route",))


def _strings(
    mapping: dict[Any, Any], path: PathKey, keys: tuple[str, ...]
) -> Iterator[tuple[PathKey, str]]:
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str):
            yield (*path, key), value


def _in_steps(value: Any, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """``run``/``undo`` commands and ``migrate`` commands anywhere below ``value`` (phases,
    rollback, procedures, smoke, gate items), outside variables and prose."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _in_steps(item, (*path, index))
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in _SKIP and not path:
            continue
        here = (*path, str(key))
        if key in ("run", "undo") and isinstance(item, str):
            yield here, item
        elif key == "run" and isinstance(item, dict):
            yield from _strings(item, here, ("command",))
        elif key == "migrate" and isinstance(item, dict):
            yield from _strings(item, here, _MIGRATE)
        elif key not in ("vars", "env"):
            yield from _in_steps(item, here)


def _locate(source: Source, path: PathKey, expression: str) -> tuple[int | None, int | None]:
    """The line and column of ``expression`` in the file, searched from its value's start
    (the value's own position when the text cannot be found verbatim)."""
    pos = source.positions.of(path)
    if pos is None:
        return None, None
    line, column = pos
    lines = source.text.split("\n")
    first = line - 1 - source.positions.offset
    if not 0 <= first < len(lines):
        return line, column
    for n in range(first, min(len(lines), first + 200)):
        start = column - 1 if n == first else 0
        at = lines[n].find(expression, start)
        if at >= 0:
            return n + 1 + source.positions.offset, at + 1
    return line, column
