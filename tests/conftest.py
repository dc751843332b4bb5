"""Fixtures every test may use: a private state directory, the real ``runwright`` command run
in a subprocess, a free local port, and a throwaway PostgreSQL cluster.

They stay generic on purpose: a fixture here knows how to run runwright and where it keeps
its state, never what a particular test deploys.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from tests.support import postgres

ROOT = Path(__file__).resolve().parents[1]
RUNWRIGHT = Path(sys.executable).with_name("runwright")
CLI_TIMEOUT = 120


class RunCli(Protocol):
    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]: ...


def cli_command() -> list[str]:
    """The real ``runwright`` executable of this virtualenv (module form if not installed)."""
    if RUNWRIGHT.exists():
        return [str(RUNWRIGHT)]
    return [sys.executable, "-m", "runwright"]


def cli_environ(state_dir: Path, **extra: str) -> dict[str, str]:
    """The process environment a CLI test runs with: no stray RUNWRIGHT_* of the caller,
    the given state directory, a fixed user, and no terminal prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
    env.update(
        RUNWRIGHT_STATE_DIR=str(state_dir),
        RUNWRIGHT_USER="alice",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
        CI="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty runwright state directory (its SQLite database is created on first use)."""
    path = tmp_path / "state"
    path.mkdir()
    return path


def cli_in(state_dir: Path) -> RunCli:
    """A ``run_cli`` bound to ``state_dir`` (for fixtures wider than one test)."""

    def run(
        *args: str,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        environ = cli_environ(state_dir, **dict(env or {}))
        if user is not None:
            environ["RUNWRIGHT_USER"] = user
        return subprocess.run(
            [*cli_command(), *args],
            capture_output=True,
            text=True,
            env=environ,
            timeout=timeout,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )

    return run


@pytest.fixture
def run_cli(state_dir: Path) -> RunCli:
    """Run ``runwright ARGS...`` as a user would, with RUNWRIGHT_STATE_DIR=state_dir.

    ``env`` adds or overrides variables (``RUNWRIGHT_CRASH_AT``, secrets...); ``user`` sets
    RUNWRIGHT_USER (default ``alice``). Returns the finished process with text output.
    """
    return cli_in(state_dir)


@pytest.fixture(scope="session")
def cli_for() -> Callable[[Path], RunCli]:
    """``cli_for(state_dir)``: a ``run_cli`` on a state directory of your choosing, for
    module- or session-scoped fixtures that deploy once and share the result."""
    return cli_in


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port free on 127.0.0.1 right now."""
    return postgres.free_port


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL cluster for the session; tests create their own databases."""
    if not postgres.available():
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl, postgres) are not installed")
    with postgres.throwaway_cluster() as cluster:
        yield cluster


def pytest_report_header() -> str:
    """The Kubernetes release the driver's tests run against (tests/support/kubeplane.py)."""
    from tests.support import kubeplane

    return f"kubernetes control plane: {kubeplane.release()}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """The Kubernetes control plane's binaries are built before the first test that needs
    them (scripts/setup normally has built them; inside a test the build would outlast the
    test's timeout). Without Go they cannot be: those tests then skip, or fail in CI."""
    needs_plane = any(
        "test_k8s_" in i.nodeid or "test_kube_fake" in i.nodeid for i in session.items
    )
    if needs_plane:
        from tests.support import kubeplane

        if kubeplane.unavailable() is None:
            kubeplane.ensure_built()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first (otherwise in collection order): under xdist
    (``scripts/test`` runs two workers) a long test started last would finish the run alone
    while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (``CI=true``) a skipped test fails: there, scripts/setup has installed every
    component (HAProxy, Prometheus, Chromium, PostgreSQL), so a skip means something is
    missing that the tests were meant to exercise, not an optional extra."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every component must be present: {reason}"
