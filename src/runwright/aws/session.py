"""One way to make boto3 clients, and to turn botocore's errors into runwright's.

``AwsSettings`` is what a runbook may say about where to talk (region, profile, endpoint);
``elbv2(settings)`` (and ``ecs``, ``rds``, ``cloudwatch``, ``ssm``) makes a typed client;
``check_credentials`` proves before a run that the chain yields a region and credentials (exit
2 with a hint otherwise), and ``call`` runs a client method in a worker thread, mapping
failures to ``DriverError`` with AWS's own code and message (throttling and 5xx are
retryable; access denied and validation errors are not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from runwright.errors import DriverError, SettingError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_ssm import SSMClient

T = TypeVar("T")

RETRYABLE = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    }
)


@dataclass(frozen=True)
class AwsSettings:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    timeout: float = 10.0


def session(settings: AwsSettings) -> boto3.session.Session:
    try:
        return boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    except BotoCoreError as exc:
        raise SettingError(
            f"AWS profile {settings.profile!r} cannot be used: {exc}",
            ("profile",),
            hint="name a profile from ~/.aws/config, or leave profile out",
        ) from None


def _config(settings: AwsSettings) -> Config:
    return Config(
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )


def _made(service: str, make: Callable[[], T]) -> T:
    try:
        return make()
    except NoRegionError:
        raise SettingError(
            f"no AWS region for {service}",
            ("region",),
            hint="set region: in the runbook, or AWS_REGION / AWS_DEFAULT_REGION",
        ) from None


def elbv2(settings: AwsSettings) -> ElasticLoadBalancingv2Client:
    s, url, cfg = session(settings), settings.endpoint_url or None, _config(settings)
    return _made("elbv2", lambda: s.client("elbv2", endpoint_url=url, config=cfg))


def ecs(settings: AwsSettings) -> ECSClient:
    s, url, cfg = session(settings), settings.endpoint_url or None, _config(settings)
    return _made("ecs", lambda: s.client("ecs", endpoint_url=url, config=cfg))


def rds(settings: AwsSettings) -> RDSClient:
    s, url, cfg = session(settings), settings.endpoint_url or None, _config(settings)
    return _made("rds", lambda: s.client("rds", endpoint_url=url, config=cfg))


def cloudwatch(settings: AwsSettings) -> CloudWatchClient:
    s, url, cfg = session(settings), settings.endpoint_url or None, _config(settings)
    return _made("cloudwatch", lambda: s.client("cloudwatch", endpoint_url=url, config=cfg))


def ssm(settings: AwsSettings) -> SSMClient:
    s, url, cfg = session(settings), settings.endpoint_url or None, _config(settings)
    return _made("ssm", lambda: s.client("ssm", endpoint_url=url, config=cfg))


def check_credentials(settings: AwsSettings, service: str) -> None:
    """Raise SettingError when the AWS chain gives no region or no credentials."""
    made = session(settings)
    if not (settings.region or made.region_name):
        raise SettingError(
            f"no AWS region for {service}",
            ("region",),
            hint="set region: in the runbook, or AWS_REGION / AWS_DEFAULT_REGION",
        )
    try:
        found = made.get_credentials()
    except (PartialCredentialsError, BotoCoreError) as exc:
        raise SettingError(
            f"AWS credentials for {service} are incomplete: {exc}",
            ("region",),
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role",
        ) from None
    if found is None:
        raise SettingError(
            f"no AWS credentials for {service}",
            ("region",),
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with "
            "an instance or task role",
        )


def translate(what: str, exc: Exception) -> DriverError:
    """A botocore failure as a DriverError saying what failed and AWS's reason."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return DriverError(
            f"{what}: {code}: {error.get('Message', '')}".rstrip(": "),
            retryable=code in RETRYABLE or status >= 500,
            hint="check the IAM permissions"
            if code in {"AccessDenied", "AccessDeniedException"}
            else None,
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return DriverError(
            f"{what}: no AWS credentials",
            retryable=False,
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role",
        )
    if isinstance(exc, EndpointConnectionError):
        return DriverError(f"{what}: cannot reach AWS at {exc.kwargs.get('endpoint_url')}")
    return DriverError(f"{what}: {exc}")


async def call(what: str, method: Callable[..., T], **kwargs: Any) -> T:
    """``method(**kwargs)`` in a worker thread; botocore errors become DriverError."""
    try:
        return await asyncio.to_thread(method, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(what, exc) from None
