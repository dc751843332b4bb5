"""scripts/check_module_length.py: no module in src/ over 800 lines, the long one named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_module_length.py"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_src_has_no_module_over_800_lines() -> None:
    result = check()
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""


def test_a_planted_801_line_module_fails_with_its_length(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("".join(f"x{i} = {i}\n" for i in range(801)))
    (tmp_path / "fits.py").write_text("".join(f"y{i} = {i}\n" for i in range(800)))
    result = check(str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'big.py'}: module is 801 lines (limit 800)" in result.stdout
    assert "fits.py" not in result.stdout
