"""The JSON Schema `runwright schema` publishes for editors accepts what the loader accepts.

An editor that underlines every duration ("4h") or every `run: "make deploy"` shorthand in a
valid runbook teaches people to ignore it; one that accepts a misspelled key hides a typo the
loader will refuse. So every shipped runbook, the demo's and every imported seed validate,
and what the loader refuses for its shape the schema refuses too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runwright.app.demo import canary_runbook, demo_runbook
from runwright.app.reads.schema import json_schema
from runwright.app.runtime.runtime import read_runbook_text
from runwright.errors import RunbookError
from runwright.model.importer import import_markdown

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml"))
SEEDS = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.md"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _problems(validator: jsonschema.Draft202012Validator, book: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message[:160]}"
        for e in validator.iter_errors(book)
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runbook_is_valid_under_the_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert _problems(validator, yaml.safe_load(path.read_text())) == []


def test_the_demo_runbooks_are_valid_under_the_schema(
    validator: jsonschema.Draft202012Validator,
) -> None:
    for build in (demo_runbook, canary_runbook):
        book = build("builtin", "127.0.0.1:8080", "127.0.0.1:8081")
        assert _problems(validator, yaml.safe_load(yaml.safe_dump(book))) == []


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_every_imported_seed_is_valid_under_the_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    result = import_markdown(path.read_text(encoding="utf-8"), str(path))
    assert _problems(validator, yaml.safe_load(result.yaml(str(path)))) == []


def _book(**step: Any) -> dict[str, Any]:
    return {
        "name": "shop",
        "environments": {"production": {}},
        "phases": [{"name": "deploy", "steps": [{"name": "a step", **step}]}],
    }


@pytest.mark.parametrize(
    "step",
    [
        {"wait": "1h30m"},
        {"wait": 90},
        {"run": "make deploy"},
        {"run": {"command": "make deploy", "timeout_ignored": None}},
        {"approval": 2},
        {"http": {"url": "http://127.0.0.1/", "expect": {"status": 204}}},
        {"preflight": {"env": ["DATABASE_URL"]}},
        {"gate": ["backups verified", {"attest": "on-call paged"}]},
    ],
    ids=[
        "duration-text",
        "duration-number",
        "run-text",
        "run-typo",
        "approval-count",
        "status-int",
        "preflight-keyed",
        "gate-items",
    ],  # fmt: skip
)
def test_short_forms_the_loader_reads_are_valid_and_typos_are_not(
    validator: jsonschema.Draft202012Validator, step: dict[str, Any]
) -> None:
    problems = _problems(validator, _book(**step))
    text = yaml.safe_dump(_book(**step))
    run = step.get("run")
    if isinstance(run, dict) and "timeout_ignored" in run:
        assert problems, "a misspelled key in a step must be refused"
        with pytest.raises(RunbookError):
            read_runbook_text(text, "book.yaml")
    else:
        assert problems == []
        read_runbook_text(text, "book.yaml")


@pytest.mark.parametrize(
    "step",
    [{"wait": "5 parsecs"}, {"wait": -1}, {"preflight": {"disks": "/"}}, {"approval": True}],
    ids=["unknown-unit", "negative", "unknown-preflight-key", "approval-bool"],
)
def test_what_the_loader_refuses_the_schema_refuses(
    validator: jsonschema.Draft202012Validator, step: dict[str, Any]
) -> None:
    assert _problems(validator, _book(**step))
    with pytest.raises(RunbookError):
        read_runbook_text(yaml.safe_dump(_book(**step)), "book.yaml")


def _product(**backend: Any) -> dict[str, Any]:
    return {
        "name": "shop",
        "environments": {"production": {}},
        "services": {
            "backend": {
                "command": "app --port {{ port }}",
                "router": {"listen": "127.0.0.1:8280"},
                "release": {"strategy": "canary", "weights": [50, 100]},
                **backend,
            },
            "frontend": {
                "after": ["backend"],
                "driver": "local",
                "command": "web --port {{ port }}",
                "router": {"kind": "haproxy", "listen": "127.0.0.1:8290"},
            },
            "worker": {
                "after": ["backend"],
                "command": "work --port {{ port }}",
                "release": {"strategy": "recreate"},
            },
        },
    }


def test_a_product_of_several_services_is_valid_and_a_typo_in_a_service_is_not(
    validator: jsonschema.Draft202012Validator,
) -> None:
    assert _problems(validator, _product()) == []
    read_runbook_text(yaml.safe_dump(_product()), "book.yaml")
    typo = _product(releas={"strategy": "canary"})
    assert any("releas" in p for p in _problems(validator, typo))
    with pytest.raises(RunbookError, match="unknown key 'releas'"):
        read_runbook_text(yaml.safe_dump(typo), "book.yaml")
