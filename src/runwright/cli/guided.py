"""``deploy --guided``: a person doing a runbook by hand does it through runwright.

An imported runbook is mostly steps done by hand (and drafts, done by hand until reviewed)
and checklists. Without this, each is a round of ``runwright attest`` and ``runwright resume``
from another terminal. Guided, the run shows each manual step with its description and the
command to type, and each checklist item, and takes the person's confirmation with one key:
``y`` (or Enter) records the attestation under their name, exactly as ``attest`` would (the
report names who confirmed each), ``n`` stops there, leaving the run waiting (exit 3) to be
resumed later. Reading one key needs a terminal; on anything else ``--guided`` is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from runwright.errors import InputError

KEYS = "  [y] done, confirm   [n] not now: stop here (resume later) "
_YES = ("y", "Y", "\r", "\n", " ")


def guided() -> Callable[[str], bool]:
    """The question callback a guided run confirms manual steps and checklist items with."""
    if not sys.stdin.isatty():
        raise InputError(
            "--guided reads one key per step from a terminal, and standard input is not one",
            hint="run it in a terminal, or without --guided and attest with `runwright attest`",
        )

    def ask(question: str) -> bool:
        click.echo("", err=True)
        click.echo(question, err=True)
        click.echo(KEYS, err=True, nl=False)
        key = click.getchar()
        yes = key in _YES
        click.echo("confirmed" if yes else "not confirmed: the run waits", err=True)
        return yes

    return ask
