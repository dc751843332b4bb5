"""``runwright serve``: open the store, make the first admin if there is none, run uvicorn.

Like a notebook server, a fresh install needs no set-up: the first start creates an admin
named after the user running it and prints a one-time login link (valid 24 hours).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from runwright.app.people import users
from runwright.app.runs.pool import WorkerPool
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.errors import InputError
from runwright.web.config import OidcConfig, WebConfig, parse_listen
from runwright.web.server import create_app


def serve_forever(
    settings: Settings,
    listen: str,
    runbooks: Path,
    read_only_public: bool,
    oidc_issuer: str | None,
    oidc_client_id: str | None,
    oidc_client_secret: str,
    workers: int = 0,
    slack_signing_secret: str = "",
    accept_sent_runbooks: bool = False,
    *,
    oidc_unknown: str = "refuse",
    public_url: str = "",
    cookie_secure: bool | None = None,
) -> int:
    if workers < 0:
        raise InputError(f"--workers {workers}: give 0 or more worker processes")
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not runbooks.is_dir():
        raise InputError(f"--runbooks {runbooks}: no such directory")
    oidc = None
    if oidc_issuer and oidc_client_id:
        oidc = OidcConfig(oidc_issuer, oidc_client_id, oidc_client_secret, unknown=oidc_unknown)
    elif oidc_issuer or oidc_client_id:
        raise InputError("--oidc-issuer and --oidc-client-id go together")
    if public_url and not public_url.startswith(("http://", "https://")):
        raise InputError(f"--public-url {public_url!r} is not an http(s) URL")
    secure = public_url.startswith("https://") if cookie_secure is None else cookie_secure
    config = WebConfig(
        host,
        port,
        runbooks.resolve(),
        read_only_public,
        oidc,
        workers=workers,
        slack_signing_secret=slack_signing_secret,
        accept_sent_runbooks=accept_sent_runbooks,
        secure_cookies=secure,
        public_url=public_url,
    )
    rt = Runtime.open(settings)
    secret = users.first_admin(rt, settings.user)
    app = create_app(rt, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
    )
    print(f"runwright serving {config.runbooks} on {config.base_url}", file=sys.stderr, flush=True)
    if secret:
        print(
            f"first start: created admin '{settings.user}'; log in once with:\n"
            f"  {config.base_url}/login?token={secret}",
            file=sys.stderr,
            flush=True,
        )
    with _supervised(settings, workers):
        server.run()
    rt.close()
    return 0


def read_secret_file(path: Path, option: str) -> str:
    """A secret kept in a file (first line, surrounding blanks dropped)."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InputError(f"{option} {path}: {exc.strerror}") from None
    if not text:
        raise InputError(f"{option} {path} is empty")
    return text.splitlines()[0].strip()


@contextmanager
def _supervised(settings: Settings, size: int) -> Iterator[None]:
    """With ``size`` workers: start them, restart one that exits about once a second, and
    stop them all when the server stops."""
    if size == 0:
        yield
        return
    pool = WorkerPool(settings, size)
    pool.start()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            pool.check()

    watcher = threading.Thread(target=watch, name="worker-pool", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        pool.close()
