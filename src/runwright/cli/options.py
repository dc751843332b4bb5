"""Options the local and the remote commands share, spelled once, so `runwright deploy` and
`runwright plan` read the same whether they act on a store or through a server. Click only:
the remote CLI imports this without the app layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from runwright.model.status import Settlement

PER_SERVICE = (
    "a runbook with services: takes SERVICE=VERSION, repeated; a bare version is for every "
    "service not named; a service left out keeps its version"
)
VAR = click.option("--var", "var", multiple=True, help="Override a variable: NAME=VALUE.")
PLAN_ENV = click.option("-e", "--env", "env", help="Environment to plan for.")
DEPLOY_ENV = click.option("-e", "--env", "env", help="Environment to deploy to.")
PLAN_JSON = click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")


def versions(*, required: bool) -> Callable[[Any], Any]:
    """``--version``, repeatable: one for every service, or SERVICE=VERSION each."""
    return click.option(
        "--version",
        "versions",
        multiple=True,
        required=required,
        help="Version to deploy (" + PER_SERVICE + ").",
    )


def _together(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One decorator for several options, in the order given (as ``--help`` lists them)."""

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


QUIET = click.option("--quiet", "-q", is_flag=True, help="No live progress.")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
WAIT = click.option(
    "--wait",
    is_flag=True,
    help="When the run needs an approval or attestation, wait for it (given from another "
    "terminal or the web) and go on, instead of exiting 3.",
)
APPROVE_NOTE = click.option(
    "--note", required=True, help="Why you approve (kept in the audit trail)."
)
REJECT_NOTE = click.option(
    "--note", required=True, help="Why you reject (kept in the audit trail)."
)
ABORT_REASON = click.option("--reason", default="", help="Why (kept in the audit trail).")
ROLLBACK_TARGET = _together(
    click.option("-e", "--env", "env", required=True, help="Environment to roll back."),
    click.option("--to-revision", type=int, help="Revision number (default: the previous one)."),
    click.option("--runbook", help="Runbook name, when several deploy to this environment."),
    click.option("--dry-run", is_flag=True, help="Print the plan; change nothing."),
)
ATTESTED_ITEMS = _together(
    click.option("--item", "items", type=int, multiple=True, help="Item number (repeatable)."),
    click.option("--all", "all_items", is_flag=True, help="Attest every item of the gate."),
    click.option("--note", default="", help="Evidence or comment."),
)
SETTLEMENT = _together(
    click.option("--rerun", "choice", flag_value=Settlement.RERUN, help="Run the step again."),
    click.option("--done", "choice", flag_value=Settlement.DONE, help="It completed; go on."),
    click.option(
        "--rollback", "choice", flag_value=Settlement.ROLLBACK, help="Treat it as failed."
    ),
    click.option(
        "--wait", "orphan", flag_value="wait", help="If it still runs, let it finish first."
    ),
    click.option("--kill", "orphan", flag_value="kill", help="If it still runs, stop it first."),
)
