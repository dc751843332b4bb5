"""What every preflight check returns, so a gate can show why it passed or failed.

A preflight check is a small async function that looks at one precondition of a release
(free disk, certificate expiry, DNS, environment, secrets, a git tag) and answers with a
``CheckResult``: ``ok``, one line of ``detail`` for a person, and ``evidence`` (plain JSON
values) for the audit trail and the sign-off report. A condition of the world that is not met
is a failed result, never an exception; only a check asked something impossible (a negative
threshold) raises ``InputError``. Evidence never holds a secret's value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field

JsonValue = str | int | float | bool | None | list[str] | dict[str, str]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one preflight check."""

    ok: bool
    detail: str
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}: {self.detail}"


async def run_checks(checks: Mapping[str, Awaitable[CheckResult]]) -> dict[str, CheckResult]:
    """Run named checks concurrently; a check that crashes becomes a failed result."""
    names = list(checks)
    outcomes = await asyncio.gather(*checks.values(), return_exceptions=True)
    results: dict[str, CheckResult] = {}
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, CheckResult):
            results[name] = outcome
        elif isinstance(outcome, Exception):
            results[name] = CheckResult(False, f"{name} could not run: {outcome}")
        else:
            raise outcome
    return results
