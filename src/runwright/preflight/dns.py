"""Does a name resolve, and to the addresses expected: the first thing a cut-over gets wrong.

``check_dns`` asks the system resolver (``getaddrinfo``, so ``/etc/hosts`` counts, as it does
for the service itself). With ``expect``, every expected address must be among the answers,
which is how a runbook checks that a record already points at the new load balancer. The
resolver is a parameter so a gate can use another one and a test can use a fake.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable

from runwright.engine.clock import Clock, SystemClock
from runwright.preflight.base import CheckResult

Resolver = Callable[[str], Awaitable[list[str]]]


async def system_resolver(name: str) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``name``, in order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def check_dns(
    name: str,
    *,
    expect: Iterable[str] = (),
    resolver: Resolver | None = None,
    timeout_seconds: float = 5.0,
    clock: Clock | None = None,
) -> CheckResult:
    """OK when ``name`` resolves (to every address in ``expect``, when given)."""
    wanted = list(expect)
    evidence: dict[str, str | list[str]] = {"name": name, "expected": wanted}
    try:
        async with (clock or SystemClock()).timeout(timeout_seconds):
            addresses = await (resolver or system_resolver)(name)
    except TimeoutError:
        return CheckResult(False, f"{name} did not resolve within {timeout_seconds:g}s", evidence)
    except (OSError, UnicodeError) as exc:
        return CheckResult(False, f"{name} does not resolve: {exc}", evidence)
    evidence["addresses"] = addresses
    if not addresses:
        return CheckResult(False, f"{name} resolves to no address", evidence)
    missing = [a for a in wanted if a not in addresses]
    if missing:
        return CheckResult(
            False,
            f"{name} resolves to {', '.join(addresses)}, not to {', '.join(missing)}",
            evidence,
        )
    return CheckResult(True, f"{name} resolves to {', '.join(addresses)}", evidence)
