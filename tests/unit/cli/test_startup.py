"""Every ``runwright`` call starts fast: the main group imports a command's module only when
that command runs, so ``--version``, ``--help`` and a typo load neither the web stack, the
migrations, the analysis maths nor any driver's client library; and ``--help`` still lists
every command with its own summary."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runwright.cli.main import COMMANDS, cli

HEAVY = ("fastapi", "uvicorn", "alembic", "scipy", "numpy", "boto3", "lightkube", "psycopg")


def _loaded_after(code: str, tmp_path: Path) -> tuple[list[str], str]:
    """Run ``code`` in a fresh interpreter; the heavy packages it imported, and its stdout."""
    script = textwrap.dedent(f"""
        import json, sys
        try:
            {code}
        except SystemExit:
            pass
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        print(json.dumps(heavy), file=sys.stderr)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    heavy: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return heavy, done.stdout


@pytest.mark.parametrize("module", ["runwright.cli.main", "runwright.cli.entry"])
def test_importing_the_cli_loads_no_heavy_package(module: str, tmp_path: Path) -> None:
    heavy, _ = _loaded_after(f"import {module}", tmp_path)
    assert heavy == []


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["nosuchcommand"]])
def test_version_help_and_typos_load_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    code = f"sys.argv = ['runwright', *{args!r}]; from runwright.cli.entry import main; main()"
    heavy, out = _loaded_after(code, tmp_path)
    assert heavy == []
    if args == ["--help"]:
        assert "deploy" in out
        assert "serve" in out
        assert "Commands:" in out


def test_help_lists_every_command_with_its_own_summary() -> None:
    """The summaries main.COMMANDS keeps for --help are those the commands' docstrings give."""
    ctx = click.Context(cli)
    for name, lazy in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
        assert command.get_short_help_str(10**6) == lazy.summary, name


def test_a_lazy_command_runs_like_an_eager_one(tmp_path: Path) -> None:
    """A command loaded on first use parses its options and runs (status on a new store)."""
    runner = CliRunner()
    done = runner.invoke(cli, ["--state-dir", str(tmp_path), "status", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == []


def test_status_on_a_sqlite_store_loads_only_what_it_reads(tmp_path: Path) -> None:
    """A local command loads what it needs: no web server, no PostgreSQL driver for a
    SQLite store, no AWS client, no analysis maths, and no Alembic once the store exists."""
    args = ["runwright", "--state-dir", str(tmp_path / "state"), "status"]
    code = f"sys.argv = {args!r}; from runwright.cli.entry import main; main()"
    first, out = _loaded_after(code, tmp_path)
    assert out == "no active runs\n"
    assert "alembic" in first  # a new store is created by its migrations
    again, out = _loaded_after(code, tmp_path)
    assert out == "no active runs\n"
    assert not {"fastapi", "uvicorn", "psycopg", "boto3", "scipy", "numpy", "alembic"} & set(again)


def test_planning_a_kubernetes_release_loads_no_aws_nor_analysis_code(tmp_path: Path) -> None:
    """A release's command loads its own driver's client, not every driver's."""
    example = Path(__file__).parents[3] / "examples" / "k8s-release.yaml"
    args = ["runwright", "--state-dir", str(tmp_path / "state"), "plan", str(example)]
    args += ["-e", "production", "--version", "v2"]
    code = f"sys.argv = {args!r}; from runwright.cli.entry import main; main()"
    heavy, out = _loaded_after(code, tmp_path)
    assert "Deployment" in out
    assert not {"fastapi", "uvicorn", "psycopg", "boto3", "scipy", "numpy"} & set(heavy)


def test_every_command_a_module_defines_is_on_the_main_group() -> None:
    """A command added to a module's COMMANDS (or commands()) but not to main.COMMANDS would
    silently be missing from the CLI."""
    from runwright.cli.lazy import _commands_of

    for spec in {lazy for lazy in COMMANDS.values() if lazy.attr is None}:
        assert set(_commands_of(spec)) <= set(COMMANDS), spec.module
