"""Every declared secret can be read before the release needs it, without revealing any.

A runbook declares its secrets by where they come from: an environment variable or a file
(the runbook model's ``Secret`` fits ``DeclaredSecret``). ``check_secrets`` says for each one
whether it is present, missing or empty, and warns about a secret file other users can read.
Values are read only to see that they are not empty; they appear in no detail or evidence.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runwright.preflight.base import CheckResult


class DeclaredSecret(Protocol):
    @property
    def env(self) -> str | None: ...

    @property
    def file(self) -> str | None: ...


@dataclass(frozen=True)
class SecretSource:
    """Where one secret comes from: an environment variable, a file, or either."""

    env: str | None = None
    file: str | None = None


def _file_status(path: Path) -> tuple[bool, str]:
    try:
        mode = path.stat().st_mode
        with path.open("rb") as handle:
            first = handle.read(1)
    except FileNotFoundError:
        return False, f"file {path} does not exist"
    except OSError as exc:
        return False, f"file {path} cannot be read ({exc.strerror})"
    if not first:
        return False, f"file {path} is empty"
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return True, f"present in file {path} (warning: readable by other users)"
    return True, f"present in file {path}"


def _status(secret: DeclaredSecret, env: Mapping[str, str], base_dir: Path) -> tuple[bool, str]:
    notes: list[str] = []
    if secret.env:
        value = env.get(secret.env)
        if value:
            return True, f"present in ${secret.env}"
        notes.append(f"${secret.env} is {'empty' if value == '' else 'not set'}")
    if secret.file:
        path = Path(secret.file).expanduser()
        ok, note = _file_status(path if path.is_absolute() else base_dir / path)
        if ok:
            return True, note
        notes.append(note)
    if not notes:
        return False, "no source declared (give env or file)"
    return False, " and ".join(notes)


async def check_secrets(
    declared: Mapping[str, DeclaredSecret],
    env: Mapping[str, str],
    *,
    base_dir: Path | None = None,
) -> CheckResult:
    """OK when every declared secret has a non-empty value from its env variable or file.

    Relative secret files are found from ``base_dir`` (the runbook's directory).
    """
    base = base_dir or Path.cwd()

    def statuses() -> dict[str, tuple[bool, str]]:
        return {name: _status(secret, env, base) for name, secret in declared.items()}

    found = await asyncio.to_thread(statuses)
    report = {name: note for name, (_, note) in found.items()}
    missing = [name for name, (ok, _) in found.items() if not ok]
    evidence: dict[str, list[str] | dict[str, str]] = {"secrets": report, "missing": missing}
    if missing:
        reasons = "; ".join(f"{name}: {report[name]}" for name in missing)
        return CheckResult(
            False, f"{len(missing)} of {len(found)} secrets missing ({reasons})", evidence
        )
    return CheckResult(True, f"all {len(found)} declared secrets are present", evidence)
