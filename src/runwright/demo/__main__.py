"""Command line of the demo service: ``python -m runwright.demo --port 8000 --version v1``.

Prints ``listening on http://HOST:PORT version V`` when ready; exits 0 after SIGTERM once the
requests in flight are answered, and 1 with a message when it cannot listen.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from runwright.demo.service import Config, serve


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m runwright.demo",
        description="A small HTTP service with a version, metrics and injectable faults.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--version", default="v1", help="reported in X-Version and /version")
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="share of requests to / answered 500, e.g. 0.2",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to requests to /")
    parser.add_argument("--fail-health", action="store_true", help="/health answers 503")
    parser.add_argument("--seed", type=int, default=0, help="seed of the error injection")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=0.9,
        help="how long SIGTERM waits for requests in flight",
    )
    parser.add_argument(
        "--upstream", default="", help="call http://HOST:PORT on every request to / (a backend)"
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate is a share between 0 and 1")
    return Config(
        host=args.host,
        port=args.port,
        version=args.version,
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        fail_health=args.fail_health,
        seed=args.seed,
        drain_seconds=args.drain_seconds,
        upstream=args.upstream,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse(argv)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(
            f"demo: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
