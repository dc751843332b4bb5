"""A product deployed through the REST API: ``versions`` sets its services one by one beside
``version``, the run and the environment show the set, and the run page lists the services."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.web import web_server

pytestmark = pytest.mark.slow

BOOK = """\
name: shop
environments:
  staging: {}
services:
  backend:
    driver: fake
    command: app --port {{ port }}
    router: {kind: fake, listen: "127.0.0.1:9"}
    release: {strategy: blue_green}
  frontend:
    after: [backend]
    driver: fake
    command: web --port {{ port }}
    router: {kind: fake, listen: "127.0.0.1:10"}
    release: {strategy: blue_green}
"""


def _ended(c: httpx.Client, run: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        detail: dict[str, Any] = c.get(f"/api/v1/runs/{run}").raise_for_status().json()
        if (
            detail["status"] in ("succeeded", "rolled_back", "failed")
            or time.monotonic() > deadline
        ):
            return detail
        time.sleep(0.05)


def test_the_api_sets_a_products_versions_one_by_one(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "shop.yaml").write_text(BOOK)
    state = tmp_path / "state"
    state.mkdir()
    with web_server(state, books) as web, web.client(web.token("alice")) as c:
        refused = c.post("/api/v1/runs", json={"runbook": "shop", "environment": "staging"})
        assert refused.status_code == 400, refused.text
        assert "give version, or versions" in refused.text
        unknown = c.post(
            "/api/v1/runs",
            json={"runbook": "shop", "environment": "staging", "versions": {"api": "v1"}},
        )
        assert unknown.status_code == 400, unknown.text
        assert "no service 'api'" in unknown.text

        body = {"runbook": "shop", "environment": "staging", "version": "v1",
                "versions": {"frontend": "v2"}}  # fmt: skip
        r = c.post("/api/v1/runs", json=body)
        assert r.status_code == 202, r.text
        detail = _ended(c, int(r.json()["run"]))
        assert detail["status"] == "succeeded", detail
        assert detail["versions"] == {"backend": "v1", "frontend": "v2"}
        envs = c.get("/api/v1/environments").raise_for_status().json()
        (staging,) = [e for e in envs if e["environment"] == "staging"]
        assert staging["versions"] == {"backend": "v1", "frontend": "v2"}
        page = c.get(f"/runs/{detail['id']}").text
        assert '<table class="services" id="services">' in page
        assert "<td>frontend</td><td>-</td><td>v2</td>" in page
