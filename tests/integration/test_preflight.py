"""Preflight checks against real things: a local TLS server, a real filesystem, a git repo."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.steps.conftest import REAL_WORK_GRACE

from runwright.engine.clock import FakeClock
from runwright.preflight import (
    certificate_dates,
    check_disk_free,
    check_env_vars,
    check_git_tag,
    check_tls_expiry,
)

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@dataclass(frozen=True)
class TlsServer:
    port: int
    cert: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/health"


def _certificate(directory: Path, days: int) -> tuple[Path, Path]:
    cert, key = directory / f"cert-{days}.pem", directory / f"key-{days}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days),
         "-subj", f"/CN=app-{days}.test", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _serve(directory: Path, days: int) -> AsyncIterator[TlsServer]:
    cert, key = await asyncio.to_thread(_certificate, directory, days)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield TlsServer(port, cert)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def expiring(tmp_path: Path) -> AsyncIterator[TlsServer]:
    async for server in _serve(tmp_path, 3):
        yield server


@pytest.fixture
async def healthy(tmp_path: Path) -> AsyncIterator[TlsServer]:
    async for server in _serve(tmp_path, 90):
        yield server


def _now() -> FakeClock:
    return FakeClock(datetime.now(UTC), deadline_grace=REAL_WORK_GRACE)


@needs_openssl
async def test_a_certificate_expiring_in_three_days_fails_a_fourteen_day_check(
    expiring: TlsServer,
) -> None:
    result = await check_tls_expiry(expiring.url, min_days=14, clock=_now())
    assert not result.ok
    assert f"certificate of 127.0.0.1:{expiring.port} (app-3.test) expires in " in result.detail
    assert result.detail.endswith("need at least 14")
    assert result.evidence["subject_cn"] == "app-3.test"
    assert 2.9 < float(result.evidence["days_left"]) <= 3.0  # type: ignore[arg-type]


@needs_openssl
async def test_a_certificate_valid_ninety_days_passes_and_can_be_trusted_by_cafile(
    healthy: TlsServer,
) -> None:
    result = await check_tls_expiry(f"127.0.0.1:{healthy.port}", min_days=14, clock=_now())
    assert result.ok, result.detail
    assert result.evidence["trusted"] is None

    trusted = await check_tls_expiry(
        healthy.url, min_days=14, clock=_now(), cafile=str(healthy.cert)
    )
    assert trusted.ok, trusted.detail
    assert trusted.evidence["trusted"] is True

    untrusted = await check_tls_expiry(healthy.url, min_days=14, clock=_now(), verify=True)
    assert not untrusted.ok
    assert "is not trusted: self-signed certificate" in untrusted.detail


@needs_openssl
async def test_an_expired_certificate_and_a_closed_port_fail(
    healthy: TlsServer, tmp_path: Path
) -> None:
    clock = _now()
    clock.advance(timedelta(days=91).total_seconds())
    result = await check_tls_expiry(healthy.url, min_days=1, clock=clock)
    assert not result.ok
    assert "expired on" in result.detail

    closed = await check_tls_expiry("https://127.0.0.1:9/", min_days=1, clock=_now())
    assert not closed.ok
    assert closed.detail.startswith("cannot open a TLS connection to 127.0.0.1:9")


@needs_openssl
def test_certificate_dates_match_what_openssl_says(tmp_path: Path) -> None:
    cert, _ = _certificate(tmp_path, 90)
    dates = certificate_dates(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-enddate"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    expected = datetime.strptime(shown.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
    assert dates.not_after == expected.replace(tzinfo=UTC)
    assert dates.common_name == "app-90.test"
    assert dates.not_after - dates.not_before == timedelta(days=90)


async def test_disk_free_on_a_real_directory(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    percent = 100 * usage.free / usage.total
    passing = await check_disk_free(tmp_path, min_free_percent=max(0.0, percent - 5))
    assert passing.ok, passing.detail
    assert passing.evidence["measured_path"] == str(tmp_path)

    not_yet = tmp_path / "backups" / "app"
    failing = await check_disk_free(not_yet, min_free_percent=min(100.0, percent + 5))
    assert not failing.ok
    assert f"need at least {min(100.0, percent + 5):g}%" in failing.detail
    assert failing.evidence["measured_path"] == str(tmp_path)

    too_big = await check_disk_free(tmp_path, min_free_bytes=usage.total + 1)
    assert not too_big.ok


async def test_env_vars_against_a_real_env_example(tmp_path: Path) -> None:
    example = tmp_path / ".env.example"
    example.write_text("DATABASE_URL=\nSECRET_KEY=change-me\n")
    present = {"DATABASE_URL": "sqlite:///x", "SECRET_KEY": "k"}
    assert (await check_env_vars(present, example_file=example)).ok
    missing = await check_env_vars({"DATABASE_URL": "x"}, example_file=example)
    assert not missing.ok
    assert missing.evidence["missing"] == ["SECRET_KEY"]


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    return subprocess.run(
        [*command, *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@needs_git
async def test_a_git_tag_exists_or_not(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    _git(repo, "tag", "v1.2.3")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    _git(repo, "tag", "-a", "v1.3.0", "-m", "release 1.3.0")
    head = _git(repo, "rev-parse", "HEAD")

    annotated = await check_git_tag(repo, "v1.3.0")
    assert annotated.ok, annotated.detail
    assert annotated.evidence["commit"] == head
    assert (await check_git_tag(repo, "v1.2.3")).evidence["commit"] == _git(
        repo, "rev-parse", "HEAD~1"
    )

    missing = await check_git_tag(repo, "v9.9.9")
    assert not missing.ok
    assert missing.detail == f"tag v9.9.9 does not exist in {repo}"

    not_a_repo = await check_git_tag(tmp_path, "v1.2.3")
    assert not not_a_repo.ok
    assert "not a git repository" in not_a_repo.detail
