"""Required environment variables are set before a release, not discovered missing after it.

Seeds compare the deploy environment against ``.env.example`` by eye. ``check_env_vars``
takes the environment as a mapping (runwright never reads its own process environment below
the edges), and the names required explicitly and/or every key of a ``.env.example``. A
variable set to the empty string counts as missing unless ``allow_empty``. Only names are
reported, never values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from runwright.errors import InputError
from runwright.preflight.base import CheckResult

_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def example_keys(path: Path) -> list[str]:
    """The variable names a ``.env.example`` declares (``KEY=...``, ``export KEY=...``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    keys: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line)
        if match and match.group(1) not in keys:
            keys.append(match.group(1))
    return keys


async def check_env_vars(
    env: Mapping[str, str],
    required: Iterable[str] = (),
    *,
    example_file: Path | None = None,
    allow_empty: bool = False,
) -> CheckResult:
    """OK when every required name (and every ``.env.example`` key) is set in ``env``."""
    names = list(dict.fromkeys(required))
    if example_file is not None:
        names += [k for k in example_keys(example_file) if k not in names]
    missing = [n for n in names if n not in env]
    empty = [n for n in names if n in env and env[n] == "" and not allow_empty]
    evidence: dict[str, str | list[str] | None] = {
        "required": names,
        "missing": missing,
        "empty": empty,
        "example_file": str(example_file) if example_file else None,
    }
    if not names:
        return CheckResult(True, "no environment variables are required", evidence)
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if empty:
        problems.append(f"empty: {', '.join(empty)}")
    if problems:
        return CheckResult(
            False,
            f"{len(missing) + len(empty)} of {len(names)} required environment "
            f"variables are not set ({'; '.join(problems)})",
            evidence,
        )
    return CheckResult(True, f"all {len(names)} required environment variables are set", evidence)
