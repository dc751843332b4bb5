"""The sign-off sheet as a printable HTML page: what teams print and sign by hand.

Hand-written runbooks end with "Deployed By ____ Verified By ____ All Checks Pass: YES / NO".
This page fills that in from the journal, from the same ``report.collect`` model as the Markdown
report (``app/reads/templates/report.html.j2``). Every value is HTML-escaped by the template, and
the page loads nothing from outside, so it prints the same offline.
"""

from __future__ import annotations

from runwright.app.reads.report import collect, render
from runwright.app.runtime.runtime import Runtime
from runwright.engine.store import RunRow


def html(rt: Runtime, run: RunRow) -> str:
    """The run's sign-off sheet as a standalone, printable HTML document."""
    return render(collect(rt, run), "html")
