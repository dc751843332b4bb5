"""The ``runwright`` executable: picks remote mode (a server) or local mode (a database)
before anything heavy is imported.

A person or CI job that talks to a server must never load a database driver or need the
audit key, so this module decides from the arguments and the environment alone:
``--server URL`` (anywhere before ``--``), ``RUNWRIGHT_SERVER``, or a stored login (when no
``--database-url`` / ``--state-dir`` points at a store of one's own) send the commands that
act on runs to ``cli.remote``; everything else, and every command without a server, runs the
local CLI (``cli.main``) as before. A command that reads or decides on runs with neither a
server nor a store in use says which to give, instead of opening an empty database.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

LOCAL_FLAGS = ("--database-url", "--state-dir")
LOCAL_ENV = ("RUNWRIGHT_DATABASE_URL", "RUNWRIGHT_STATE_DIR")
REMOTE = frozenset(
    {
        "deploy", "plan", "status", "history", "logs", "events", "approve", "reject", "attest",
        "abort", "resume", "settle", "rollback", "report", "audit", "environments", "whoami",
    }
)  # fmt: skip
ALWAYS_REMOTE = frozenset({"login", "logout", "whoami"})
NEED_A_STORE = REMOTE - {"deploy", "plan", "whoami"}
"""Commands meaningless on a new, empty local database: they read or decide on runs."""


def _take_server(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``--server URL`` / ``--server=URL`` wherever it is (before ``--``), and the rest."""
    server: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--server" and i + 1 < len(args):
            server, i = args[i + 1], i + 2
            continue
        if arg.startswith("--server="):
            server, i = arg.split("=", 1)[1], i + 1
            continue
        rest.append(arg)
        i += 1
    return server, rest


def _command(args: Sequence[str]) -> str | None:
    """The subcommand: the first word that is neither an option nor a global option's value."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in LOCAL_FLAGS:
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return None


def _local_store(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    flagged = any(
        a in LOCAL_FLAGS or a.startswith(tuple(f + "=" for f in LOCAL_FLAGS)) for a in args
    )
    return flagged or any(environ.get(k) for k in LOCAL_ENV)


def _default_db(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "runwright" / "runwright.db"


def mode(args: Sequence[str], environ: Mapping[str, str]) -> tuple[str, str | None, list[str]]:
    """("remote" | "local" | "neither", server, arguments without --server)."""
    from runwright.cli import credentials

    server, rest = _take_server(args)
    command = _command(rest)
    if command in ALWAYS_REMOTE:
        return "remote", server, rest
    if command not in REMOTE:
        return "local", server, rest
    local = _local_store(rest, environ)
    if server or environ.get("RUNWRIGHT_SERVER"):
        return "remote", server, rest
    if not local and credentials.current(environ, None) is not None:
        return "remote", server, rest
    if not local and command in NEED_A_STORE and not _default_db(environ).exists():
        return "neither", None, rest
    return "local", None, rest


def main() -> None:
    chosen, server, rest = mode(sys.argv[1:], os.environ)
    if chosen == "remote":
        from runwright.cli import remote

        if _local_store(rest, os.environ) and (server or os.environ.get("RUNWRIGHT_SERVER")):
            _refuse("give either --server (a runwright server) or --database-url, not both")
        args = ["--server", server, *rest] if server else rest
        remote.cli(args=args, prog_name="runwright")
        return
    if chosen == "neither":
        _refuse(
            "no server and no database given, and this machine has no runwright state yet",
            "act through your team's server: runwright login URL (or --server URL / "
            "RUNWRIGHT_SERVER with RUNWRIGHT_TOKEN); or give your own store: --database-url "
            "URL / RUNWRIGHT_DATABASE_URL, or --state-dir DIR",
        )
    if server and _command(rest) is not None:
        _refuse(
            f"runwright {_command(rest) or ''} does not act through a server".replace("  ", " "),
            "run it where the server runs (it needs the database), without --server",
        )
    from runwright.cli.main import cli

    cli(args=rest, prog_name="runwright")


def _refuse(message: str, hint: str | None = None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
