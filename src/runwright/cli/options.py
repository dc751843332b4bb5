"""Options the local and the remote commands share, spelled once, so `runwright deploy` and
`runwright plan` read the same whether they act on a store or through a server. Click only:
the remote CLI imports this without the app layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

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
