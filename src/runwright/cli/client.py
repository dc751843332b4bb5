"""The remote CLI's one door to a server: the REST API and its SSE stream, over httpx.

Every request carries the person's bearer token; every answer that is not 2xx becomes the
runwright error the local command would raise, with the server's own message and hint:
400/404 bad input (2), 401 no valid token (2), 403 a role the token lacks (2, the message
names it), 409 blocked (3), anything else a failure (1). Only this module knows HTTP; it
imports no database driver and holds no audit key (the server verifies the chain).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse

from runwright.errors import BlockedError, InputError, RunwrightError

TIMEOUT = 30.0
STREAM_READ = 45.0
"""Seconds without a byte on the event stream before reconnecting (the server sends a
keep-alive every 15 s)."""


class ApiError(RunwrightError):
    """The server failed (5xx) or answered what this CLI cannot read."""


def _refusal(response: httpx.Response, server: str) -> RunwrightError:
    try:
        body = response.json()
        message, hint = str(body.get("error") or response.reason_phrase), body.get("hint")
    except ValueError:
        message, hint = f"HTTP {response.status_code} {response.reason_phrase}", None
    code = response.status_code
    if code == 401:
        return InputError(
            f"{server} refused the token: {message}",
            hint="log in again: runwright login " + server + " (or set RUNWRIGHT_TOKEN)",
        )
    if code == 409:
        return BlockedError(message, hint=hint)
    if code < 500:
        return InputError(message, hint=hint)
    return ApiError(f"{server} failed: {message}", hint=hint)


class Api:
    """A client of one runwright server, acting with one token."""

    def __init__(self, server: str, token: str | None, *, timeout: float = TIMEOUT) -> None:
        if not token:
            raise InputError(
                f"no token for {server}",
                hint=f"log in: runwright login {server} (or set RUNWRIGHT_TOKEN)",
            )
        self.server = server
        self._http = httpx.Client(
            base_url=server,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise InputError(
                f"cannot reach {self.server}: {exc or type(exc).__name__}",
                hint="check --server / RUNWRIGHT_SERVER and that runwright serve runs there",
            ) from None
        if not response.is_success:
            raise _refusal(response, self.server)
        return response

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=query).json()

    def text(self, path: str, **params: Any) -> str:
        query = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=query).text

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=body or {}).json()

    def wakeups(self, run: int | None, after: int, stop: Callable[[], bool]) -> Iterator[int]:
        """The global id of each event the server streams (``run``'s, or every run's, after
        id ``after``), reconnecting where it left off, until ``stop()`` says so. The ids
        only wake the caller: it reads the events themselves from the API."""
        last = after
        params: dict[str, Any] = {"after": last}
        if run is not None:
            params["run"] = run
        timeout = httpx.Timeout(TIMEOUT, read=STREAM_READ)
        while not stop():
            params["after"] = last
            try:
                with connect_sse(
                    self._http, "GET", "/api/v1/events/stream", params=params, timeout=timeout
                ) as source:
                    if not source.response.is_success:
                        source.response.read()
                        raise _refusal(source.response, self.server)
                    for sse in source.iter_sse():
                        if sse.id and sse.id.isdigit():
                            last = int(sse.id)
                        yield last
                        if stop():
                            return
            except (httpx.ReadTimeout, httpx.RemoteProtocolError):
                yield last
            except httpx.HTTPError as exc:
                raise InputError(
                    f"lost {self.server}'s event stream: {exc or type(exc).__name__}",
                    hint="check the server and the network, then follow again",
                ) from None


def device_login(server: str, say: Callable[[str], None]) -> str:
    """A token by ``runwright login --browser``: ask the server for a code, tell the person
    where to confirm it, and poll until they have (or the request expires)."""
    with httpx.Client(base_url=server, timeout=TIMEOUT) as http:

        def post(path: str, body: dict[str, Any]) -> httpx.Response:
            try:
                response = http.post(path, json=body)
            except httpx.HTTPError as exc:
                raise InputError(f"cannot reach {server}: {exc or type(exc).__name__}") from None
            if not response.is_success:
                raise _refusal(response, server)
            return response

        began = post("/api/v1/device/start", {}).json()
        say(f"open {began['verification_uri']}")
        say(f"and confirm there that your terminal shows the code {began['user_code']}")
        deadline = time.monotonic() + float(began["expires_in"])
        pause = max(0.2, float(began.get("interval", 1)))
        while time.monotonic() < deadline:
            answer = post("/api/v1/device/token", {"device_code": began["device_code"]})
            if answer.status_code == 200:
                return str(answer.json()["token"])
            time.sleep(pause)
    raise InputError(
        "nobody confirmed the code in time", hint=f"run runwright login {server} --browser again"
    )
