"""Audit use cases: verify one run or the whole store, export a run's signed bundle, and
check a bundle offline (no database, only the audit key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runwright.app.report import markdown
from runwright.app.runtime import Runtime
from runwright.engine.audit import Verdict, export_bundle, verify_bundle, verify_run, verify_store
from runwright.errors import InputError


def verify(rt: Runtime, run_id: int | None) -> tuple[bool, list[str]]:
    """(ok, one line per run or store-wide problem)."""
    if run_id is None:
        return verify_store(rt.store)
    verdict = verify_run(rt.store, run_id)
    lines = [f"run {run_id}: {'OK' if verdict.ok else 'TAMPERED'}: {verdict.message}"]
    lines += [f"  {p}" for p in verdict.problems[1:]]
    return verdict.ok, lines


def export(rt: Runtime, run_id: int) -> dict[str, Any]:
    run = rt.store.run(run_id)
    return export_bundle(rt.store, run_id, markdown(rt, run))


def check_bundle(rt: Runtime, path: str | Path) -> Verdict:
    try:
        bundle = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"cannot read bundle {path}: {exc.strerror}") from None
    except ValueError as exc:
        hint = "pass a file that audit export wrote"
        raise InputError(f"{path}: not JSON ({exc})", hint=hint) from None
    return verify_bundle(rt.store.key, bundle)
