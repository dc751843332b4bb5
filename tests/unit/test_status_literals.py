"""scripts/check_status_literals.py keeps statuses in one module: it must pass on src/ as it
stands and catch a status typed as a bare string anywhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_status_literals.py"


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_src_has_no_status_literal_outside_the_status_module() -> None:
    result = check()
    assert result.returncode == 0, result.stdout


def test_a_planted_status_literal_is_reported_with_its_place(tmp_path: Path) -> None:
    planted = tmp_path / "pkg" / "planted.py"
    planted.parent.mkdir()
    planted.write_text(
        '"""A module that says "succeeded" in its docstring, which is fine."""\n'
        "\n"
        "def finished(run):\n"
        '    return run.status in ("rolled_back", "failed")\n'
        "\n"
        "def blocked(run):\n"
        '    return run.status == "awaiting_approval"\n',
        encoding="utf-8",
    )
    result = check(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": status literal ")[1].split(":")[0] for line in lines] == [
        "'rolled_back'",
        "'failed'",
        "'awaiting_approval'",
    ]
    assert lines[0].startswith(f"{planted}:4:")
    assert lines[2].startswith(f"{planted}:7:")


def test_a_planted_literal_in_the_real_tree_fails_the_check(tmp_path: Path) -> None:
    copy = tmp_path / "runwright"
    subprocess.run(["cp", "-r", str(ROOT / "src" / "runwright"), str(copy)], check=True)
    target = copy / "engine" / "machine.py"
    target.write_text(
        target.read_text(encoding="utf-8") + '\n\nSTUCK = "rolling_back"\n', encoding="utf-8"
    )
    result = check(copy)
    assert result.returncode == 1
    assert "machine.py" in result.stdout
    assert "'rolling_back'" in result.stdout


def test_another_word_that_looks_like_a_status_is_kept_with_the_marker(tmp_path: Path) -> None:
    shell = tmp_path / "shell.py"
    shell.write_text('CLOSERS = {"fi"}\nCLOSERS.add("done")  # not a status\n', encoding="utf-8")
    assert check(shell).returncode == 0
    shell.write_text('CLOSERS = {"fi"}\nCLOSERS.add("done")\n', encoding="utf-8")
    assert check(shell).returncode == 1


def test_event_types_verdicts_and_deliveries_are_checked_too(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def ended(event):\n"
        '    return event.type == "run.finished"\n'
        "\n"
        "def check_ok(check):\n"
        '    return check.verdict == "passed"\n'
        "\n"
        "def owed(delivery):\n"
        '    return delivery.status in ("given_up", "sending")\n'
        "\n"
        'SETTLE = "rerun"\n'
        'SECTION = "rollback"\n',
        encoding="utf-8",
    )
    result = check(planted)
    assert result.returncode == 1
    found = [
        line.split(": status literal ")[1].split(":")[0] for line in result.stdout.splitlines()
    ]
    assert found == ["'run.finished'", "'passed'", "'given_up'", "'sending'", "'rerun'"]
    assert "runwright.model.event_type" in result.stdout
