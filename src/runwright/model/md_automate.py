"""``runwright import --automate``: the commands of a Markdown runbook become steps runwright
performs, each a draft until a person reviews it.

Read as it is, a runbook's shell blocks are manual steps: the operator does each by hand and
attests it, and the release runs nothing. With ``--automate`` (the default) each command goes
through the recognition table (``md_recognize``): a health ``curl`` becomes an ``http`` check,
``pg_dump`` a verified ``backup``, ``alembic upgrade`` a ``migrate``... and any other command
a ``run`` step executing it as written. Every such step carries ``draft: true`` and the command
as written (``original``): until ``runwright review`` accepts it, a draft is done by hand like a
manual step, so an import is never less safe than today's checklist, and becomes automation one
reviewed step at a time. What the proposals need (a ``DATABASE_URL`` secret, a Slack sink) is
declared beside them, so the runbook validates as imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from runwright.model.md_fences import literal
from runwright.model.md_recognize import recognise


@dataclass(frozen=True)
class Proposed:
    """One imported command and what it became."""

    step: str
    label: str  # health check, backup (pg_dump)... "run as written", "manual"
    command: str
    note: str = ""
    service: dict[str, Any] | None = None  # the ``service:`` its deploy command implies


def automate(runbook: dict[str, Any], commands: list[tuple[dict[str, Any], str]]) -> list[Proposed]:
    """Turn each manual step read from a shell block into the step its command proposes."""
    out: list[Proposed] = []
    secrets: dict[str, Any] = {}
    sinks: dict[str, Any] = {}
    for step, command in commands:
        proposal = recognise(command)
        name = str(step.get("name"))
        out.append(Proposed(name, proposal.label, command, proposal.note, proposal.service))
        if proposal.manual:
            if proposal.note:
                step["description"] = "\n".join(
                    t for t in (str(step.get("description") or ""), proposal.note) if t
                )
            continue
        step.pop("run", None)
        step.pop("manual", None)
        for key, value in proposal.step.items():
            step[key] = literal(value) if key == "run" else value
        if "migrate" in step:
            step["migrate"] = {**step["migrate"], "command": literal(command.strip())}
        step["draft"] = True
        if "run" not in proposal.step:
            step["original"] = command
        if proposal.note:
            step["description"] = "\n".join(
                t for t in (str(step.get("description") or ""), "proposed: " + proposal.note) if t
            )
        secrets.update(proposal.secrets)
        sinks.update(proposal.sinks)
    if secrets:
        runbook["secrets"] = {**secrets, **dict(runbook.get("secrets") or {})}
    if sinks:
        runbook["sinks"] = {**sinks, **dict(runbook.get("sinks") or {})}
    return out


def with_approvals(runbook: dict[str, Any], approvals: dict[str, int]) -> None:
    """``import --approvals production=2``: the approval policy the document does not state."""
    envs = runbook.setdefault("environments", {})
    for env, required in approvals.items():
        current = dict(envs.get(env) or {})
        current["approvals"] = {"required": required, "not_by_initiator": True}
        envs[env] = current


def service_comment(proposed: list[Proposed]) -> str:
    """The ``service:`` the first deploy command implies, as YAML comments to uncomment."""
    found = next((p for p in proposed if p.service is not None), None)
    if found is None or found.service is None:
        return ""
    first = found.command.strip().split("\n")[0][:70]
    body = yaml.safe_dump(
        {"service": found.service, "release": {"strategy": "blue_green"}},
        sort_keys=False,
        width=100,
    )
    head = (
        f"\n# Proposed from step '{found.step}':\n#   {first}\n"
        "# With this service runwright releases each version itself (a Deployment per\n"
        "# version, the Service selector switched once it is available) and rolls back by\n"
        "# switching back. Check the names, uncomment it, and drop the steps it replaces.\n"
    )
    return head + "".join(f"# {line}\n" for line in body.rstrip().split("\n"))
