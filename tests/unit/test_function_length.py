"""scripts/check_function_length.py: no function in src/ over 80 lines, the longest reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_function_length.py"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_src_passes_and_the_longest_functions_are_listed() -> None:
    result = check("--top", "3")
    assert result.returncode == 0, result.stdout
    listed = result.stdout.splitlines()[1:4]
    lengths = [int(line.split()[0]) for line in listed]
    assert len(lengths) == 3
    assert lengths == sorted(lengths, reverse=True)


def test_a_planted_81_line_function_fails_with_its_place(tmp_path: Path) -> None:
    long_body = "".join(f"        x{i} = {i}\n" for i in range(79))
    short_body = "".join(f"    y{i} = {i}\n" for i in range(10))
    planted = tmp_path / "long.py"
    planted.write_text(
        "class Box:\n    def fits(self):\n" + long_body + "        return 1\n\n\n"
        "def fine():\n" + short_body + "    return 0\n",
        encoding="utf-8",
    )
    result = check(str(planted))
    assert result.returncode == 1
    assert f"{planted}:2: function Box.fits is 81 lines (limit 80)" in result.stdout
    assert "fine is" not in result.stdout


def test_80_lines_is_within_the_limit(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(78))
    ok = tmp_path / "ok.py"
    ok.write_text("def edge():\n" + body + "    return 1\n", encoding="utf-8")
    result = check(str(ok))
    assert result.returncode == 0, result.stdout
    assert "80  " in result.stdout
