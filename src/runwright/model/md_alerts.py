"""Prometheus alerting rules pasted into a runbook, read as the checks they describe.

Runbooks often show the alert that should trigger a rollback ("- alert: DeploymentFailure /
expr: rate(errors[5m]) / rate(requests[5m]) > 0.01 / for: 5m") as a YAML block nobody runs.
That rule is exactly a runwright check: a PromQL query, a threshold and a sustained-breach
duration. ``runwright import`` proposes one draft check per rule (query, ``fail_if``, ``for``,
severity), and a draft step that watches the release under those checks; a person confirms
them (adds the Prometheus ``url``) before they decide anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from runwright.model.md_blocks import Block

_THRESHOLD = re.compile(r"(?P<op>>=|<=|>|<)\s*(?P<value>\d+(?:\.\d+)?)\s*$")
_DURATION = re.compile(r"^\d+[smh]$")


def _rules(data: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with ``alert`` and ``expr``, however deep (groups: - rules: - ...)."""
    if isinstance(data, dict):
        if "alert" in data and "expr" in data:
            yield data
        for value in data.values():
            yield from _rules(value)
    elif isinstance(data, list):
        for item in data:
            yield from _rules(item)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()).strip("-")


def alert_checks(block: Block) -> list[tuple[str, dict[str, Any]]]:
    """(name, draft check) for each alerting rule in a YAML block, in order."""
    if block.kind != "fence" or block.lang not in ("yaml", "yml"):
        return []
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    lines = block.text.split("\n")
    for rule in _rules(data):
        expr = re.sub(r"\s+", " ", str(rule["expr"])).strip()
        match = _THRESHOLD.search(expr)
        if match is None or not expr[: match.start()].strip():
            continue
        query = expr[: match.start()].strip()
        while query.startswith("(") and query.endswith(")") and _balanced(query[1:-1]):
            query = query[1:-1].strip()
        name = str(rule["alert"])
        at = next((n for n, ln in enumerate(lines) if f"alert: {name}" in ln), 0)
        found = rule.get("labels")
        labels: dict[str, Any] = found if isinstance(found, dict) else {}
        severity = "rollback" if labels.get("action") == "rollback" else labels.get("severity")
        check: dict[str, Any] = {
            "draft": True,
            "line": block.line + 1 + at,
            "source": f"alert {name}: {expr}"[:200],
            "metric": _slug(name).replace("-", " ") or name,
            "severity": str(severity or "alert"),
            "query": query,
            "fail_if": f"{match['op']} {match['value']}",
        }
        duration = str(rule.get("for") or "")
        if _DURATION.match(duration):
            check["for"] = duration
        out.append((_slug(name) or "alert", check))
    return out


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def watch_step(checks: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A draft ``analysis`` step watching the release under the sustained drafts (``for:``)."""
    sustained = {n: c for n, c in checks.items() if c.get("draft") and c.get("for")}
    if not sustained:
        return None
    longest = max(sustained.values(), key=lambda c: _seconds(str(c["for"])))
    return {
        "name": "Watch the release under the draft checks",
        "description": "proposed by runwright import from the thresholds the runbook states; "
        "confirm each check (its query and Prometheus url) before accepting this step",
        "analysis": {"checks": sorted(sustained), "duration": str(longest["for"])},
        "draft": True,
    }


def _seconds(duration: str) -> int:
    number, unit = int(duration[:-1]), duration[-1]
    return number * {"s": 1, "m": 60, "h": 3600}[unit]
