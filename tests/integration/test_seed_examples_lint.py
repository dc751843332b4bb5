"""Each seed example under ``examples/seeds`` is valid and lints clean (exit 0), and its
README shows its plan, so a team that recognises its runbook can start from a sound one."""

from __future__ import annotations

import pytest
from tests.conftest import ROOT, RunCli

SEEDS = ROOT / "examples" / "seeds"
NAMES = ["lexiscan", "receipt-vault", "legal-ai", "case-management", "ai-shield"]


def test_every_seed_has_an_example() -> None:
    assert sorted(p.name for p in SEEDS.iterdir() if p.is_dir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_example_lints_clean_and_its_readme_shows_its_plan(
    name: str, run_cli: RunCli
) -> None:
    book = SEEDS / name / "runbook.yaml"
    linted = run_cli("lint", str(book))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 error(s), 0 warning(s)" in linted.stderr
    readme = (SEEDS / name / "README.md").read_text()
    assert f"runwright plan examples/seeds/{name}/runbook.yaml" in readme
    assert "(not executed)" in readme
