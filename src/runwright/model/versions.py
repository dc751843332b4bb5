"""Which version strings a runbook accepts: a pattern, by default one without shell syntax.

A version comes from outside (a flag, a CI variable) and ends up in commands, URLs and image
tags. Templates quote it, but a version that is not a version (``v1'; touch X; echo '``) is
refused before anything is planned or run, so it never reaches a shell a runbook author
opened with ``raw``. A runbook can narrow the pattern (``version_pattern: 'v\\d+\\.\\d+\\.\\d+'``)
or widen it; the default allows letters, digits and ``. _ + : @ / -``.

The pattern is the runbook author's and the version is anyone's, so a pattern must not be able
to hang a command: patterns are compiled by RE2, whose matching time is linear in the input
(``(a+)+$`` against ``aaaa...!`` backtracks for ever in Python's ``re``). RE2 has no
backreferences or lookaround; such patterns are refused at load. So are repetition counts
over 1000 (``a{99999999999}``), which RE2 would otherwise read as literal text.
"""

from __future__ import annotations

import re

import re2

from runwright.errors import RunbookError

DEFAULT_VERSION_PATTERN = r"[A-Za-z0-9._+:@/-]{1,128}"
MAX_REPEAT = 1000
MAX_PATTERN = 1000
_COUNT = re.compile(r"(?<!\\)\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the reason is raised to the caller, not printed to stderr
    options.max_mem = 8 << 20
    return options


def compile_pattern(pattern: str) -> re2._Regexp:
    """The pattern compiled by RE2; ValueError with the reason when it is not one RE2 takes,
    or repeats something more than MAX_REPEAT times."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a version pattern of {len(pattern):,} characters (limit {MAX_PATTERN})")
    for match in _COUNT.finditer(pattern):
        counts = [int(n) for n in match.groups() if n]
        if any(n > MAX_REPEAT for n in counts):
            raise ValueError(
                f"repetition {match.group(0)!r} is over {MAX_REPEAT}: write a shorter bound "
                "(versions are at most a few hundred characters)"
            )
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"not a valid regular expression for RE2 ({reason}); version patterns use RE2 "
            "syntax: no backreferences or lookaround"
        ) from None


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
