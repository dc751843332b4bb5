"""A viewer scoped to staging sees no production run anywhere: API lists, environments,
runbooks, run pages, the runs page, reports, audit, plans and the event stream. A direct
request for a production run answers 404, exactly as for a run that does not exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.web import WebServer, web_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web_scopes")]

BOOK = """\
name: shop
environments:
  staging: {}
  production: {}
phases:
  - name: release
    steps:
      - name: ship
        run: echo shipped {{ version }}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, int, int]]:
    root = tmp_path_factory.mktemp("web-scopes")
    books = root / "books"
    books.mkdir()
    (books / "shop.yaml").write_text(BOOK)
    state = root / "state"
    state.mkdir()
    with web_server(state, books) as web:
        book = str(books / "shop.yaml")
        web.cli("deploy", book, "-e", "staging", "--version", "v1")
        web.cli("deploy", book, "-e", "production", "--version", "v1")
        web.add_user("stan", "viewer", envs=["staging"])
        web.add_user("sally", "deployer", "approver", envs=["staging"])
        yield web, 1, 2


def test_lists_show_only_the_readers_environments(lab: tuple[WebServer, int, int]) -> None:
    web, staging, production = lab
    with web.client(web.token("alice")) as admin:
        assert {r["id"] for r in admin.get("/api/v1/runs").json()["runs"]} == {staging, production}
    with web.client(web.token("stan")) as c:
        runs = c.get("/api/v1/runs").json()
        assert [r["id"] for r in runs["runs"]] == [staging]
        assert runs["total"] == 1
        assert c.get("/api/v1/runs", params={"environment": "production"}).json()["runs"] == []
        envs = c.get("/api/v1/environments").json()
        assert [e["environment"] for e in envs] == ["staging"]
        assert c.get("/api/v1/runbooks").json()[0]["environments"] == ["staging"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs/{run}",
        "/api/v1/runs/{run}/events",
        "/api/v1/runs/{run}/output",
        "/api/v1/runs/{run}/measurements",
        "/api/v1/runs/{run}/audit",
        "/api/v1/runs/{run}/report?format=html",
        "/api/v1/runs/{run}/report?format=md",
        "/api/v1/events/stream?run={run}&after=0",
        "/api/v1/runs/{run}/logs",
        "/api/v1/events?run={run}",
        "/api/v1/audit/verify?run={run}",
        "/api/v1/runbooks/shop/plan?env=production&version=v2",
        "/api/v1/environments/production/rollback-plan",
        "/runs/{run}",
        "/runs/{run}/live",
        "/runs/{run}/audit",
        "/runs/{run}/report.html",
        "/runs/{run}/report.md",
        "/plan?runbook=shop&env=production&version=v2",
        "/rollback?env=production",
    ],
)
def test_a_production_run_does_not_exist_for_a_staging_viewer(
    lab: tuple[WebServer, int, int], path: str
) -> None:
    web, staging, production = lab
    with web.client(web.token("stan")) as c:
        hidden = c.get(path.format(run=production))
        missing = c.get(path.format(run=999))
        assert hidden.status_code == 404, hidden.text
        if "{run}" in path:
            assert hidden.text.replace(str(production), "N") == missing.text.replace("999", "N")
        if "production" not in path and "stream" not in path:
            assert c.get(path.format(run=staging)).status_code == 200


def test_acting_on_a_hidden_run_is_a_404_too(lab: tuple[WebServer, int, int]) -> None:
    web, _, production = lab
    with web.client(web.token("sally")) as c:
        for action in ("approve", "reject", "abort", "resume"):
            r = c.post(f"/api/v1/runs/{production}/{action}", json={})
            assert r.status_code == 404, (action, r.text)


def test_pages_show_no_production_run(lab: tuple[WebServer, int, int]) -> None:
    web, staging, production = lab
    html = {"Accept": "text/html"}
    with web.client(web.token("stan")) as c:
        for page in ("/", "/runs", "/runs?environment=production"):
            body = c.get(page, headers=html).text
            assert f'href="/runs/{production}"' not in body, page
            if "?" not in page:  # the filter form echoes what was asked for
                assert "production" not in body, page
        assert f'href="/runs/{staging}"' in c.get("/runs", headers=html).text
    with web.client(web.token("alice")) as admin:
        assert f'href="/runs/{production}"' in admin.get("/runs", headers=html).text


def test_the_event_stream_carries_only_visible_runs(lab: tuple[WebServer, int, int]) -> None:
    web, staging, production = lab
    seen = {staging: _stream_runs(web, "stan"), production: _stream_runs(web, "alice")}
    assert seen[staging] == {staging}
    assert seen[production] == {staging, production}


def _stream_runs(web: WebServer, user: str) -> set[int]:
    runs: set[int] = set()
    with (
        web.client(web.token(user)) as c,
        c.stream("GET", "/api/v1/events/stream", params={"after": 0}) as r,
    ):
        assert r.status_code == 200
        deadline = time.monotonic() + 3
        for line in r.iter_lines():
            if line.startswith("data: "):
                runs.add(json.loads(line[6:])["run"])
            if time.monotonic() > deadline or len(runs) == 2:
                break
    return runs


def test_public_reading_still_reads_everything(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "shop.yaml").write_text(BOOK)
    state = tmp_path / "state"
    state.mkdir()
    with web_server(state, books, args=["--read-only-public"]) as web:
        web.cli("deploy", str(books / "shop.yaml"), "-e", "production", "--version", "v1")
        assert httpx.get(web.url + "/api/v1/runs/1", timeout=10).status_code == 200
