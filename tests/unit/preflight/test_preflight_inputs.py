"""Preflight checks that read what they are given: env vars, secrets, disk thresholds, DNS."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from runwright.errors import InputError
from runwright.model.schema import Secret
from runwright.preflight import (
    CheckResult,
    SecretSource,
    check_disk_free,
    check_dns,
    check_env_vars,
    check_secrets,
    example_keys,
    run_checks,
)
from runwright.preflight.secrets import DeclaredSecret


def _example(tmp_path: Path) -> Path:
    path = tmp_path / ".env.example"
    path.write_text(
        "# database\nDATABASE_URL=postgresql://localhost/app\n\nexport REDIS_URL=\n"
        "  SENTRY_DSN = https://x\n# OLD_KEY=1\nnot a line\nDATABASE_URL=again\n"
    )
    return path


def test_example_keys_are_read_like_a_shell_would(tmp_path: Path) -> None:
    assert example_keys(_example(tmp_path)) == ["DATABASE_URL", "REDIS_URL", "SENTRY_DSN"]


async def test_env_vars_missing_or_empty_fail_and_show_no_values(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://app:hunter2@db/app", "REDIS_URL": "", "API_KEY": "k"}
    result = await check_env_vars(env, ["API_KEY"], example_file=_example(tmp_path))
    assert not result.ok
    assert result.detail == (
        "2 of 4 required environment variables are not set (missing: SENTRY_DSN; empty: REDIS_URL)"
    )
    assert result.evidence["missing"] == ["SENTRY_DSN"]
    assert "hunter2" not in repr(result)

    env |= {"REDIS_URL": "redis://r", "SENTRY_DSN": "https://s"}
    result = await check_env_vars(env, ["API_KEY"], example_file=_example(tmp_path))
    assert result.ok
    assert result.detail == "all 4 required environment variables are set"


async def test_empty_values_may_be_allowed() -> None:
    assert (await check_env_vars({"FEATURE_FLAGS": ""}, ["FEATURE_FLAGS"], allow_empty=True)).ok


async def test_secrets_from_env_and_files(tmp_path: Path) -> None:
    (tmp_path / "db_password").write_text("s3cret")
    (tmp_path / "db_password").chmod(0o600)
    (tmp_path / "empty").write_text("")
    (tmp_path / "shared").write_text("token")
    (tmp_path / "shared").chmod(0o644)
    declared: dict[str, DeclaredSecret] = {
        "api_token": Secret(env="API_TOKEN"),
        "db_password": SecretSource(file="db_password"),
        "signing_key": SecretSource(env="SIGNING_KEY", file="empty"),
        "webhook": SecretSource(file=str(tmp_path / "shared")),
        "nothing": SecretSource(),
    }
    result = await check_secrets(declared, {"API_TOKEN": "tok-123"}, base_dir=tmp_path)
    assert not result.ok
    assert result.evidence["missing"] == ["signing_key", "nothing"]
    secrets = result.evidence["secrets"]
    assert isinstance(secrets, dict)
    assert secrets["api_token"] == "present in $API_TOKEN"
    assert secrets["signing_key"] == f"$SIGNING_KEY is not set and file {tmp_path}/empty is empty"
    assert secrets["webhook"].endswith("(warning: readable by other users)")
    assert "tok-123" not in repr(result)
    assert "s3cret" not in repr(result)

    del declared["signing_key"], declared["nothing"]
    result = await check_secrets(declared, {"API_TOKEN": "tok-123"}, base_dir=tmp_path)
    assert result.ok
    assert result.detail == "all 3 declared secrets are present"


async def test_disk_thresholds_must_make_sense(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs min_free_percent or min_free_bytes"):
        await check_disk_free(tmp_path)
    with pytest.raises(InputError, match="between 0 and 100"):
        await check_disk_free(tmp_path, min_free_percent=120)


async def test_dns_resolves_localhost_and_checks_expected_addresses() -> None:
    result = await check_dns("localhost", expect=["127.0.0.1"])
    assert result.ok, result.detail
    assert "127.0.0.1" in result.evidence["addresses"]  # type: ignore[operator]

    result = await check_dns("localhost", expect=["192.0.2.10"])
    assert not result.ok
    assert "not to 192.0.2.10" in result.detail


async def test_dns_failures_are_results_not_exceptions() -> None:
    async def nxdomain(name: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def empty(name: str) -> list[str]:
        return []

    result = await check_dns("api.example.invalid", resolver=nxdomain)
    assert not result.ok
    assert (
        result.detail
        == "api.example.invalid does not resolve: [Errno -2] Name or service not known"
    )
    assert not (await check_dns("x.invalid", resolver=empty)).ok


async def test_run_checks_turns_a_crash_into_a_failed_result() -> None:
    async def good() -> CheckResult:
        return CheckResult(True, "fine")

    async def broken() -> CheckResult:
        raise RuntimeError("boom")

    results = await run_checks({"good": good(), "broken": broken()})
    assert results["good"].ok
    assert results["broken"] == CheckResult(False, "broken could not run: boom")
