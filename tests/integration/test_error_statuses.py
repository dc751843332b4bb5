"""Errors carry their HTTP status beside their exit code: the web answers a run that does not
exist with 404 because the store raised NotFoundError, not because of its message's words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.web import WebServer, web_server

from runwright.app.people.users import AuthError, Forbidden
from runwright.engine.store import Store
from runwright.errors import (
    BlockedError,
    DriverError,
    FencedError,
    InputError,
    LockedError,
    NotFoundError,
    RunbookError,
    RunwrightError,
)
from runwright.web.server import status_of

BOOK = """
name: shop
environments: {staging: {}}
steps:
  - name: ship
    run: "true"
"""


@pytest.mark.parametrize(
    ("error", "exit_code", "status"),
    [
        (InputError("bad flag"), 2, 400),
        (RunbookError("bad key", file="a.yaml", line=3), 2, 400),
        (NotFoundError("no run 9"), 2, 404),
        (NotFoundError("whatever the words"), 2, 404),
        (BlockedError("awaiting approval"), 3, 409),
        (LockedError("locked by run 1"), 3, 409),
        (FencedError("lease lost"), 3, 409),
        (DriverError("router refused"), 1, 500),
        (AuthError("no valid credential"), 2, 401),
        (Forbidden("not an approver"), 2, 403),
    ],
)
def test_each_error_carries_its_exit_code_and_http_status(
    error: RunwrightError, exit_code: int, status: int
) -> None:
    assert (error.exit_code, error.http_status, status_of(error)) == (exit_code, status, status)


def test_the_store_says_a_missing_run_or_step_is_not_found(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with pytest.raises(NotFoundError, match="no run 42"):
            store.run(42)
        with pytest.raises(NotFoundError, match="no step main/0 in run 42"):
            store.step(42, "main", 0)
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebServer]:
    books, state = tmp_path / "books", tmp_path / "state"
    books.mkdir()
    state.mkdir()
    (books / "shop.yaml").write_text(BOOK)
    with web_server(state, books) as web:
        yield web


def test_the_web_answers_a_missing_run_with_404_and_bad_input_with_400(server: WebServer) -> None:
    with server.client(server.token("alice")) as api:
        missing = api.get("/api/v1/runs/424242")
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"] == "no run 424242"
        bad = api.post(
            "/api/v1/runs", json={"runbook": "shop", "environment": "nowhere", "version": "v1"}
        )
        assert bad.status_code == 400, bad.text
    assert httpx.get(server.url + "/api/v1/runs/1").status_code == 401
    off = httpx.post(server.url + "/api/v1/slack/interactions", content=b"payload=x")
    assert off.status_code == 404, off.text  # a NotFoundError, not a message's first words
    assert off.json()["error"] == "Slack interactions are off on this server"
