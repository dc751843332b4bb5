"""Which mode a command line runs in, decided before anything heavy is imported: a server
(flag, variable or stored login) sends run commands through the API; a database or state
directory of one's own keeps them local; neither, for a command about existing runs, says
which to give."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.cli import credentials
from runwright.cli.entry import mode


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "s")}


def test_a_server_flag_anywhere_sends_run_commands_to_the_server(home: dict[str, str]) -> None:
    chosen, server, rest = mode(["deploy", "x.yaml", "--server", "http://h:1", "--wait"], home)
    assert (chosen, server, rest) == ("remote", "http://h:1", ["deploy", "x.yaml", "--wait"])
    assert mode(["--server=http://h:1", "status"], home)[:2] == ("remote", "http://h:1")
    env = {**home, "RUNWRIGHT_SERVER": "http://h:1"}
    assert mode(["approve", "3", "--note", "x"], env)[0] == "remote"
    assert mode(["validate", "x.yaml"], env)[0] == "local"


def test_a_stored_login_is_used_unless_a_store_of_ones_own_is_named(home: dict[str, str]) -> None:
    credentials.save(home, "https://deploy.example.com", "rw_a_secret")
    assert mode(["history"], home)[0] == "remote"
    assert mode(["--database-url", "sqlite:///x.db", "history"], home)[0] == "local"
    assert mode(["history"], {**home, "RUNWRIGHT_STATE_DIR": "/tmp/x"})[0] == "local"
    login = credentials.current(home, None)
    assert login == credentials.Login("https://deploy.example.com", "rw_a_secret")
    assert credentials.current({**home, "RUNWRIGHT_TOKEN": "rw_a_ci"}, None) == credentials.Login(
        "https://deploy.example.com", "rw_a_ci"
    )


def test_neither_a_server_nor_a_store_is_named(home: dict[str, str]) -> None:
    assert mode(["status"], home)[0] == "neither"
    assert mode(["approve", "1", "--note", "n"], home)[0] == "neither"
    assert mode(["deploy", "x.yaml", "--version", "1"], home)[0] == "local"
    assert mode(["demo"], home)[0] == "local"
    db = Path(home["XDG_STATE_HOME"]) / "runwright" / "runwright.db"
    db.parent.mkdir(parents=True)
    db.touch()
    assert mode(["status"], home)[0] == "local"


def test_login_and_logout_never_open_a_store(home: dict[str, str]) -> None:
    assert mode(["login", "https://d.example.com"], home)[0] == "remote"
    assert mode(["--database-url", "x", "logout"], home)[0] == "remote"
