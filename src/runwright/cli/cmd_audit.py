"""``runwright audit verify|export`` and ``runwright unlock``: proving the trail and breaking
a lock, both on the audit chain. Registered on the main group by ``cli.main``, which hands
over its context decorator and error mapping."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runwright.app.reads import audit as audit_app
from runwright.app.runs import locks
from runwright.errors import InputError


def commands(pass_ctx: Callable[..., Any], handle_errors: Callable[..., Any]) -> list[Any]:
    @click.group()
    def audit() -> None:
        """Check the keyed, hash-chained audit trail."""

    @audit.command("verify")
    @click.argument("run_id", type=int, required=False)
    @click.option("--bundle", type=click.Path(), help="Check an exported bundle offline.")
    @click.option(
        "--witness",
        type=click.Path(path_type=Path),
        help="Also check every head this witness file recorded (default: RUNWRIGHT_WITNESS).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
    @pass_ctx
    @handle_errors
    def audit_verify(
        c: Any, run_id: int | None, bundle: str | None, witness: Path | None, as_json: bool
    ) -> None:
        """Check RUN_ID's chain (or every run and the store-wide chain without it); exit 1
        naming the first edited or deleted event, forged row, deleted run, or witnessed head
        the database no longer holds."""
        rt = c.runtime(quiet=True)
        if bundle:
            verdict = audit_app.check_bundle(rt, bundle)
            ok, lines = verdict.ok, [f"{bundle}: {'OK' if verdict.ok else 'TAMPERED'}: "
                                     f"{verdict.message}"]  # fmt: skip
        else:
            ok, lines = audit_app.verify(rt, run_id, witness)
        if as_json:
            click.echo(json.dumps({"run": run_id, "ok": ok, "message": "\n".join(lines)}))
        else:
            click.echo("\n".join(lines) if lines else "no runs yet")
        sys.exit(0 if ok else 1)

    @audit.command("witness")
    @click.argument("file", type=click.Path(path_type=Path), required=False)
    @pass_ctx
    @handle_errors
    def audit_witness(c: Any, file: Path | None) -> None:
        """Append the store-wide chain head to FILE (default: RUNWRIGHT_WITNESS), signed: run
        it periodically (cron) so even a rewrite by someone holding the key is found."""
        rt = c.runtime(quiet=True)
        click.echo(audit_app.witness_head(rt, file))

    @audit.command("export")
    @click.argument("run_id", type=int)
    @click.option("-o", "--output", type=click.Path(), required=True, help="Bundle file.")
    @pass_ctx
    @handle_errors
    def audit_export(c: Any, run_id: int, output: str) -> None:
        """Write RUN_ID's events, report, key id and signature to one file that
        ``audit verify --bundle`` checks without the database."""
        rt = c.runtime(quiet=True)
        bundle = audit_app.export(rt, run_id)
        try:
            Path(output).write_text(json.dumps(bundle, indent=1))
        except OSError as exc:
            raise InputError(
                f"cannot write {output}: {exc.strerror}", hint="choose a writable --output path"
            ) from None
        click.echo(f"wrote {output} ({len(bundle['events'])} events, key {bundle['key_id']})")

    @click.command()
    @click.argument("runbook")
    @click.argument("environment")
    @click.option("--note", required=True, help="Why (kept in the audit trail).")
    @click.option("--force", is_flag=True, help="Also break a lock whose run waits for a person.")
    @pass_ctx
    @handle_errors
    def unlock(c: Any, runbook: str, environment: str, note: str, force: bool) -> None:
        """Break the lock of RUNBOOK in ENVIRONMENT; its run ends aborted. Refused while the
        run's process is alive and its lease live."""
        rt = c.runtime(quiet=True)
        click.echo(locks.unlock(rt, runbook, environment, note=note, force=force))

    return [audit, unlock]
