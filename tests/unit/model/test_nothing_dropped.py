"""Nothing in a runbook is dropped silently: on every fixture and every seed, imported either
way, each checklist item and each code block ends up as a step, a gate item, or a note with
its line (kept as text, example output, a skipped block, or listed as not understood)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.model.importer import ImportResult, import_markdown
from runwright.model.md_blocks import Block, scan

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FILES = sorted((FIXTURES / "markdown").glob("*.md")) + sorted((FIXTURES / "seeds").glob("*.md"))


def counted(block: Block) -> bool:
    return block.kind == "fence" or (block.kind == "item" and block.checkbox)


def accounted(result: ImportResult, block: Block) -> bool:
    placed = {at[0] for at in result.positions.values.values()}
    if any(block.line <= line <= block.end for line in placed):
        return True
    return any(n.line <= block.end and block.line <= n.end for n in result.not_understood)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("automate", [False, True], ids=["manual", "automate"])
def test_every_checklist_item_and_code_block_ends_up_somewhere(path: Path, automate: bool) -> None:
    text = path.read_bytes().decode("utf-8")
    result = import_markdown(text, path.name, automate_steps=automate)
    blocks = [b for b in scan(result.text.replace("\r\n", "\n"), path.name) if counted(b)]
    assert blocks
    dropped = [(b.line, b.text[:60]) for b in blocks if not accounted(result, b)]
    assert dropped == []


def test_checklists_in_note_sections_are_kept_with_their_lines() -> None:
    path = FIXTURES / "markdown" / "notes-with-checklists.md"
    result = import_markdown(path.read_text(), "notes.md")
    items = [n for n in result.not_understood if n.kind == "checklist item"]
    assert [(n.line, n.text) for n in items] == [
        (12, "Error rate below 1% for 30 minutes"),
        (13, "p95 latency below 300 ms"),
        (14, "No new alerts in the orders channel"),
        (18, "Rollback authorization obtained from the incident commander"),
        (19, "Customer support told"),
    ]
    assert all(n.kept and "note section" in n.kept for n in items)
    description = result.runbook["description"]
    assert "- [ ] Rollback authorization obtained from the incident commander" in description
    skipped = [n for n in result.not_understood if n.kind == "skipped block"]
    assert [n.line for n in skipped] == [21]
    phases = result.runbook["phases"]
    assert [p["name"] for p in phases] == ["Deploy"]
    assert [s["name"] for s in result.runbook["rollback"]] == ["Rollback: Previous release"]
