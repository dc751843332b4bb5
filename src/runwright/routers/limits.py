"""The builtin proxy's timeouts and connection limit: how long it waits for anyone.

A proxy that waits for ever can be frozen by one slow client or one silent backend: a
half-sent head, a body that stops, a backend that accepts and never answers, a thousand idle
sockets holding every descriptor. Every wait of the data path has a deadline here, each with a
default a person rarely needs to change; a runbook sets them under ``service.router.timeouts``
and ``service.router.max_connections``, and the controller (``builtin.py``) passes them to the
proxy process as command-line options (``as_args``, read back by ``from_args``).

    head        a request's head must arrive whole within this (else 408, closed)
    body        a request body may pause at most this long between pieces (else 408, closed)
    idle        a kept-alive client connection may sit idle this long (then closed)
    connect     connecting to a backend (else the next backend, or 504)
    response    a backend may be silent this long: before its answer's head, or between
                pieces of its body (else 504, or the client connection closed mid-answer)
"""

from __future__ import annotations

import argparse
import resource
from dataclasses import dataclass, fields

RESERVED_FDS = 64
"""Descriptors kept for the admin API, logs and the state file beside the connections."""


@dataclass(frozen=True)
class ProxyLimits:
    head: float = 10.0
    body: float = 30.0
    idle: float = 60.0
    connect: float = 5.0
    response: float = 60.0
    max_connections: int = 4096

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"{f.name} must be positive, not {getattr(self, f.name)}")

    def as_args(self) -> list[str]:
        """The proxy's command-line options that carry these limits."""
        out: list[str] = []
        for f in fields(self):
            out += [f"--{f.name.replace('_', '-')}", f"{getattr(self, f.name):g}"]
        return out

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The options ``as_args`` writes, on the proxy's command line."""
        for f in fields(cls):
            kind = int if f.name == "max_connections" else float
            unit = "" if kind is int else " (seconds)"
            parser.add_argument(
                f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help=f.name + unit
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ProxyLimits:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def tick(self) -> float:
        """How often the proxy looks for connections past a deadline."""
        shortest = min(self.head, self.body, self.idle, self.connect, self.response)
        return min(1.0, max(0.02, shortest / 5))


def connection_cap(wanted: int) -> int:
    """``wanted`` client connections, or fewer so that each (and its backend connection) fits
    under the descriptor limit, which is raised to its hard limit first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
    return max(1, min(wanted, (soft - RESERVED_FDS) // 2))
