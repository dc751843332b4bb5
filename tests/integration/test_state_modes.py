"""The state directory is its owner's alone: created 0700, its files (the store, the chain
key, the builtin router's table and log) 0600, and an older, wider one narrowed on use."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import cli_in
from tests.support.postgres import free_port

from runwright.engine.private import private_dir, private_file
from runwright.routers.base import Backend
from runwright.routers.builtin import BuiltinRouter, BuiltinSettings

BOOK = "name: modes\nphases:\n  - name: p\n    steps:\n      - run: echo hi\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_state_directory_and_its_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "home" / "state"
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    done = cli_in(state)("deploy", str(book), "--version", "v1")
    assert done.returncode == 0, done.stderr
    assert mode(state) == 0o700
    files = [p for p in state.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"runwright.db", "audit.key"}
    for path in files:
        assert mode(path) == 0o600, path


def test_an_older_wider_state_directory_is_narrowed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    db = state / "runwright.db"
    db.touch()
    db.chmod(0o644)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    assert cli_in(state)("deploy", str(book), "--version", "v1").returncode == 0
    assert mode(state) == 0o700
    assert mode(db) == 0o600


async def test_the_builtin_routers_files_are_private(tmp_path: Path) -> None:
    settings = BuiltinSettings(
        state_dir=tmp_path / "state",
        listen=f"127.0.0.1:{free_port()}",
        admin=f"127.0.0.1:{free_port()}",
        stop_timeout=2.0,
    )
    router = BuiltinRouter(settings)
    await router.ensure_started()
    try:
        await router.apply([Backend("v1", "127.0.0.1", free_port(), 100)])
        assert mode(router.dir) == 0o700
        assert mode(router.state_file) == 0o600
        assert mode(router.log_file) == 0o600
    finally:
        await router.stop()


def test_the_helpers_never_widen(tmp_path: Path) -> None:
    tight = private_dir(tmp_path / "a" / "b")
    tight.chmod(0o500)
    assert mode(private_dir(tight)) == 0o500
    f = private_file(tmp_path / "f")
    f.chmod(0o400)
    assert mode(private_file(f)) == 0o400
