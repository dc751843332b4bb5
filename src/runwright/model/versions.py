"""Which version strings a runbook accepts: a pattern, by default one without shell syntax.

A version comes from outside (a flag, a CI variable) and ends up in commands, URLs and image
tags. Templates quote it, but a version that is not a version (``v1'; touch X; echo '``) is
refused before anything is planned or run, so it never reaches a shell a runbook author
opened with ``raw``. A runbook can narrow the pattern (``version_pattern: 'v\\d+\\.\\d+\\.\\d+'``)
or widen it; the default allows letters, digits and ``. _ + : @ / -``.
"""

from __future__ import annotations

import re

from runwright.errors import RunbookError

DEFAULT_VERSION_PATTERN = r"[A-Za-z0-9._+:@/-]{1,128}"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; ValueError with the reason when it is not a valid regex."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def check_version(version: str, pattern: str | None, file: str) -> None:
    """Refuse ``version`` unless the whole of it matches the runbook's version pattern."""
    wanted = pattern or DEFAULT_VERSION_PATTERN
    if compile_pattern(wanted).fullmatch(version):
        return
    where = "the runbook's version_pattern" if pattern else "the default version pattern"
    raise RunbookError(
        f"version {version[:80]!r} does not match {where} {wanted!r}",
        file=file,
        hint="pass a plain version such as v1.2.3"
        + ("" if pattern else "; a runbook may set version_pattern: REGEX to accept others"),
    )
