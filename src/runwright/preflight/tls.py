"""Days until an endpoint's TLS certificate expires: an expired certificate is a full outage.

The check connects, takes the certificate the server presents, and reads its validity from
the certificate itself, so it works for certificates the system does not trust (an internal
CA, a staging self-signed one). Trust is checked too when asked (``verify`` or ``cafile``).
The validity is read from the DER bytes with a small reader of the few X.509 fields needed
(validity and the subject's common name), which keeps the standard library enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from runwright.engine.clock import Clock
from runwright.errors import InputError
from runwright.preflight.base import CheckResult

_COMMON_NAME_OID = b"\x06\x03\x55\x04\x03"
_STRING_TAGS = {0x0C, 0x13, 0x14, 0x16, 0x1E}


@dataclass(frozen=True)
class CertificateDates:
    not_before: datetime
    not_after: datetime
    common_name: str | None


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """The tag, content start and content end of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER element")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii").rstrip("Z")
    if tag == 0x17:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:
        raise ValueError(f"unexpected time tag {tag:#x}")
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _common_name(data: bytes, start: int, end: int) -> str | None:
    at = data.find(_COMMON_NAME_OID, start, end)
    if at < 0:
        return None
    tag, begin, stop = _tlv(data, at + len(_COMMON_NAME_OID))
    if tag not in _STRING_TAGS:
        return None
    encoding = "utf-16-be" if tag == 0x1E else "utf-8"
    return data[begin:stop].decode(encoding, "replace")


def certificate_dates(der: bytes) -> CertificateDates:
    """notBefore, notAfter and the subject CN of a DER-encoded X.509 certificate."""
    _, cert_start, _ = _tlv(der, 0)
    _, pos, tbs_end = _tlv(der, cert_start)
    tag, _, end = _tlv(der, pos)
    if tag == 0xA0:
        pos = end
    for _field in ("serial", "signature algorithm", "issuer"):
        _, _, pos = _tlv(der, pos)
    _, validity_start, validity_end = _tlv(der, pos)
    before_tag, before_start, before_end = _tlv(der, validity_start)
    after_tag, after_start, after_end = _tlv(der, before_end)
    if after_end > validity_end:
        raise ValueError("validity runs past its sequence")
    _, subject_start, subject_end = _tlv(der, validity_end)
    return CertificateDates(
        not_before=_time(before_tag, der[before_start:before_end]),
        not_after=_time(after_tag, der[after_start:after_end]),
        common_name=_common_name(der, subject_start, min(subject_end, tbs_end)),
    )


def _endpoint(endpoint: str) -> tuple[str, int]:
    text = endpoint.strip()
    if "://" in text:
        parts = urlsplit(text)
        if not parts.hostname:
            raise InputError(f"no host in TLS endpoint {endpoint!r}")
        return parts.hostname, parts.port or 443
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        return host.strip("[]"), int(port)
    return text.strip("[]"), 443


async def check_tls_expiry(
    endpoint: str,
    *,
    min_days: float,
    clock: Clock,
    verify: bool = False,
    cafile: str | None = None,
    server_name: str | None = None,
    timeout_seconds: float = 10.0,
) -> CheckResult:
    """OK when the certificate at ``endpoint`` (``https://host[:port]`` or ``host:port``) is
    valid now and for at least ``min_days`` more days (and trusted, when ``verify``/``cafile``).
    """
    host, port = _endpoint(endpoint)
    where = f"{host}:{port}"
    trusting = verify or cafile is not None
    if trusting:
        context = ssl.create_default_context(cafile=cafile)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    evidence: dict[str, str | int | float | bool | None] = {"endpoint": where, "min_days": min_days}
    try:
        async with clock.timeout(timeout_seconds):
            _, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_name or host
            )
    except ssl.SSLCertVerificationError as exc:
        evidence["trusted"] = False
        return CheckResult(
            False, f"the certificate of {where} is not trusted: {exc.verify_message}", evidence
        )
    except TimeoutError:
        return CheckResult(
            False, f"{where} did not complete a TLS handshake within {timeout_seconds:g}s", evidence
        )
    except (OSError, ssl.SSLError) as exc:
        return CheckResult(False, f"cannot open a TLS connection to {where}: {exc}", evidence)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        return CheckResult(False, f"{where} presented no certificate", evidence)
    try:
        dates = certificate_dates(der)
    except (ValueError, UnicodeDecodeError) as exc:
        return CheckResult(False, f"cannot read the certificate of {where}: {exc}", evidence)
    now = clock.now()
    days_left = (dates.not_after - now).total_seconds() / 86400
    evidence.update(
        {
            "subject_cn": dates.common_name,
            "not_before": dates.not_before.isoformat(),
            "not_after": dates.not_after.isoformat(),
            "days_left": round(days_left, 2),
            "trusted": True if trusting else None,
            "sha256_fingerprint": hashlib.sha256(der).hexdigest(),
        }
    )
    name = f"the certificate of {where}" + (f" ({dates.common_name})" if dates.common_name else "")
    expiry = dates.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if now < dates.not_before:
        return CheckResult(False, f"{name} is not valid before {dates.not_before}", evidence)
    if days_left < 0:
        return CheckResult(False, f"{name} expired on {expiry}", evidence)
    detail = f"{name} expires in {days_left:.1f} days ({expiry})"
    if days_left < min_days:
        return CheckResult(False, f"{detail}, need at least {min_days:g}", evidence)
    return CheckResult(True, detail, evidence)
