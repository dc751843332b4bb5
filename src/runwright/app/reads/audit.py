"""Audit use cases: verify one run or the whole store, export a run's signed bundle, and
check a bundle offline (no database, only the audit key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runwright.app.reads.report import markdown
from runwright.app.runtime.runtime import Runtime
from runwright.engine.audit import Verdict, export_bundle, verify_bundle, verify_run, verify_store
from runwright.engine.witness import Witness
from runwright.engine.witness import check as check_witness
from runwright.errors import InputError


def verify(rt: Runtime, run_id: int | None, witness: Path | None = None) -> tuple[bool, list[str]]:
    """(ok, one line per run or store-wide problem); with ``witness`` (or the configured
    RUNWRIGHT_WITNESS), also every head that file witnessed."""
    if run_id is None:
        ok, lines = verify_store(rt.store)
    else:
        verdict = verify_run(rt.store, run_id)
        lines = [f"run {run_id}: {'OK' if verdict.ok else 'TAMPERED'}: {verdict.message}"]
        lines += [f"  {p}" for p in verdict.problems[1:]]
        ok = verdict.ok
    path = witness or rt.settings.witness
    if path is None:
        return ok, lines
    checked, problems = check_witness(rt.store, path)
    lines += [f"witness: TAMPERED: {p}" for p in problems]
    if not problems:
        lines.append(f"witness: OK: {checked} witnessed heads are in the database ({path})")
    return ok and not problems, lines


def witness_head(rt: Runtime, path: Path | None) -> str:
    """Append the store-wide head to the witness file (run it periodically, e.g. from cron)."""
    target = path or rt.settings.witness
    if target is None:
        raise InputError(
            "no witness file given",
            hint="pass a FILE, or set RUNWRIGHT_WITNESS to an append-only file elsewhere",
        )
    head = rt.store.chain_head()
    Witness(target, rt.store.key).store_head(head, rt.clock.now())
    return f"witnessed store-wide event {head[0] if head else 0} in {target}"


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
