"""Status pages and a team's own status API hear about a release as the seeds' runbooks say
they should: a ``notify`` step posts an incident update with its status, a good release
posts a resolved note when ``success_note`` is on, and a webhook with a ``body`` template
posts exactly the JSON the team's ``/api/incidents`` takes (seed 004), with its bearer token,
so no curl script is needed. The receivers are local HTTP servers that record each request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import RunCli
from tests.support.receivers import failing_first, receiver, status_pages

pytestmark = pytest.mark.slow

BOOK = """
name: aishield
secrets:
  STATUS_API_KEY: {{env: STATUS_API_KEY}}
environments:
  production: {{}}
sinks:
  incidents:
    webhook:
      url: "{api}/api/incidents"
      headers: {{Authorization: "Bearer {{{{ secrets.STATUS_API_KEY }}}}"}}
      body:
        name: "{{{{ 'Deployment complete' if event == 'succeeded'
                  else 'Issue detected, rolled back to ' ~ run.runbook }}}}"
        status: "{{{{ incident_status }}}}"
        impact: "{{{{ impact }}}}"
        version: "{{{{ run.version }}}}"
  page:
    status_page: {{kind: statuspage, url: "{page}", token: sp, page_id: P1, success_note: true}}
notify:
  - to: incidents
    events: [rolled_back, succeeded]
  - to: page
    events: [rolled_back, succeeded]
phases:
  - name: release
    steps:
      - name: tell the status page
        notify:
          to: [page]
          status: identified
          title: "Deploying {{{{ version }}}}"
          text: a short maintenance
      - run: test {{{{ version }}}} != bad
"""


def test_status_updates_and_a_custom_incident_api(run_cli: RunCli, tmp_path: Path) -> None:
    env = {"STATUS_API_KEY": "sk-status-81"}
    with receiver(failing_first(0)) as api, receiver(status_pages()) as page:
        book = tmp_path / "aishield.yaml"
        book.write_text(BOOK.format(api=api.url, page=page.url))
        assert run_cli("validate", str(book), env=env).returncode == 0
        plan = run_cli("plan", str(book), "-e", "production", "--version", "v2", env=env)
        assert "notify page (status identified): a short maintenance" in plan.stdout
        bad = run_cli("deploy", str(book), "-e", "production", "--version", "bad", env=env)
        assert bad.returncode == 1
        good = run_cli("deploy", str(book), "-e", "production", "--version", "v2", env=env)
        assert good.returncode == 0, good.stderr
        good2 = run_cli("deploy", str(book), "-e", "production", "--version", "v3", env=env)
        assert good2.returncode == 0, good2.stderr

    assert [(r.method, r.path) for r in api.requests] == [("POST", "/api/incidents")] * 3
    assert api.requests[0].headers["Authorization"] == "Bearer sk-status-81"
    assert [r.json() for r in api.requests] == [
        {"name": "Issue detected, rolled back to aishield", "status": "monitoring",
         "impact": "partial", "version": "bad"},
        {"name": "Deployment complete", "status": "resolved", "impact": "none", "version": "v2"},
        {"name": "Deployment complete", "status": "resolved", "impact": "none", "version": "v3"},
    ]  # fmt: skip
    posted = [(r.method, r.path, r.json()["incident"]) for r in page.requests]
    # each run: the step's update; the bad one opens an incident, v2 resolves it, and v3
    # (nothing open) posts a resolved note
    assert [(m, p, i["status"]) for m, p, i in posted] == [
        ("POST", "/v1/pages/P1/incidents", "identified"),
        ("POST", "/v1/pages/P1/incidents", "investigating"),
        ("POST", "/v1/pages/P1/incidents", "identified"),
        ("PATCH", "/v1/pages/P1/incidents/inc2", "resolved"),
        ("POST", "/v1/pages/P1/incidents", "identified"),
        ("POST", "/v1/pages/P1/incidents", "resolved"),
    ]
    assert posted[0][2]["name"] == "Deploying bad"
    assert posted[5][2]["name"] == "aishield production: release v3 deployed"
