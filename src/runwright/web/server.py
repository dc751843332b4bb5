"""The FastAPI application and ``serve``: headers, error mapping, routes, the uvicorn server.

Every response carries a strict Content-Security-Policy (scripts and styles only from this
server's /static, no inline code), and errors become the right HTTP status with the same
one-line message and hint the CLI prints: 400 bad input, 401 no credential, 403 not allowed,
404 unknown run, 409 blocked (locked, outside a window, awaiting a person).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from runwright.app.notifications.redelivery import retrying
from runwright.app.people.users import AuthError, Forbidden
from runwright.app.runtime.runtime import Runtime
from runwright.errors import RunwrightError
from runwright.web import api, cli_api, device, forms, login, pages, slack
from runwright.web.config import WebConfig
from runwright.web.oidc_flows import OidcFlows
from runwright.web.runbooks import Registry
from runwright.web.sse import Hub
from runwright.web.state import WebState
from runwright.web.tasks import Tasks

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def status_of(exc: RunwrightError) -> int:
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    return exc.http_status


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RunwrightError)
    status = status_of(exc)
    if _wants_html(request):
        if status == 401:
            return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)
        return pages.error_page(request, status, exc.message, exc.hint)
    return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return JSONResponse({"error": f"bad request: {problems}", "hint": None}, status_code=400)


def create_app(rt: Runtime, config: WebConfig) -> FastAPI:
    state = WebState(config, rt, Registry(config.runbooks), Tasks(), Hub(rt, config.poll_interval))
    if config.oidc is not None:
        state.oidc = OidcFlows(config.oidc.issuer, rt.clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.hub.start()
        async with retrying(rt):  # notifications runs still owe, whoever ran them
            yield
        await state.hub.stop()
        await state.tasks.stop()

    app = FastAPI(
        title="runwright",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.web = state

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    app.add_exception_handler(RunwrightError, _error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(cli_api.router)
    app.include_router(slack.router)
    app.include_router(device.router)
    app.include_router(api.stream_router())
    app.include_router(login.router)
    if config.oidc is not None:
        from runwright.web import oidc  # PyJWT and its crypto load only when OIDC is on

        app.include_router(oidc.router)
    app.include_router(pages.router)
    app.include_router(forms.router)
    return app
