"""Free disk space before a release: a backup or an image pull that fills the disk is an outage.

Seeds check ``df`` by hand before backing up. ``check_disk_free`` measures the filesystem that
holds ``path`` (or, when ``path`` does not exist yet, its nearest existing parent, which is
where a new backup directory would go) against a percentage and/or a byte threshold. Space is
what an unprivileged process may use (``statvfs`` ``f_bavail``), as ``df`` shows it.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from runwright.errors import InputError
from runwright.preflight.base import CheckResult

_GIB = 1024**3


def _existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


async def check_disk_free(
    path: Path | str,
    *,
    min_free_percent: float | None = None,
    min_free_bytes: int | None = None,
) -> CheckResult:
    """OK when the filesystem of ``path`` has at least the given free percent and bytes."""
    if min_free_percent is None and min_free_bytes is None:
        raise InputError("a disk check needs min_free_percent or min_free_bytes")
    if min_free_percent is not None and not 0 <= min_free_percent <= 100:
        raise InputError(f"min_free_percent must be between 0 and 100, not {min_free_percent}")
    if min_free_bytes is not None and min_free_bytes < 0:
        raise InputError("min_free_bytes cannot be negative")
    target = Path(path)
    measured = _existing(target)
    try:
        usage = await asyncio.to_thread(shutil.disk_usage, measured)
    except OSError as exc:
        return CheckResult(
            False, f"cannot measure free space at {target}: {exc}", {"path": str(target)}
        )
    percent = 100.0 * usage.free / usage.total if usage.total else 0.0
    evidence: dict[str, str | int | float | bool | None] = {
        "path": str(target),
        "measured_path": str(measured),
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "free_percent": round(percent, 2),
        "min_free_percent": min_free_percent,
        "min_free_bytes": min_free_bytes,
    }
    shortfalls = []
    if min_free_percent is not None and percent < min_free_percent:
        shortfalls.append(f"need at least {min_free_percent:g}%")
    if min_free_bytes is not None and usage.free < min_free_bytes:
        shortfalls.append(f"need at least {min_free_bytes / _GIB:.2f} GiB")
    detail = (
        f"{percent:.1f}% free on {target} ({usage.free / _GIB:.2f} GiB of "
        f"{usage.total / _GIB:.2f} GiB)"
    )
    if shortfalls:
        return CheckResult(False, f"{detail}, {' and '.join(shortfalls)}", evidence)
    return CheckResult(True, detail, evidence)
