"""examples/demo-release.md, the annotated Markdown runbook, run as a user would (issue 7,
point 4): it plans exactly like its YAML import, deploys v1 then v2 of the demo service
through the built-in router, rolls back a v3 whose smoke test fails, and leaves nothing
running once the test stops what it deployed."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli
from tests.support.releases import MARKER, marked, version_at

EXAMPLE = ROOT / "examples" / "demo-release.md"


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    for pid in marked(value):
        os.kill(pid, 9)


@pytest.fixture
def example(tmp_path: Path, free_port: Callable[[], int]) -> tuple[Path, str]:
    """The example with the router on free ports; everything else exactly as shipped."""
    listen = f"127.0.0.1:{free_port()}"
    text = EXAMPLE.read_text()
    assert text.count("127.0.0.1:8490") == 2
    assert text.count("127.0.0.1:8491") == 1
    text = text.replace("127.0.0.1:8490", listen).replace(
        "127.0.0.1:8491", f"127.0.0.1:{free_port()}"
    )
    path = tmp_path / "demo-release.md"
    path.write_text(text)
    return path, listen


def test_the_markdown_plan_equals_the_plan_of_its_yaml_import(
    run_cli: RunCli, example: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = example
    imported = tmp_path / "demo-release.yaml"
    done = run_cli("import", str(path), "-o", str(imported))
    assert done.returncode == 0, done.stderr
    plans = []
    for f in (path, imported):
        plan = run_cli("plan", str(f), "-e", "local", "--version", "v2", "--json")
        assert plan.returncode == 0, plan.stderr
        plans.append(json.loads(plan.stdout))
    assert plans[0] == plans[1]
    kinds = [s["kind"] for s in plans[0]["steps"]]
    assert kinds == ["gate", "run", "service", "http", "http", "traffic", "wait", "service"]
    lint = run_cli("lint", str(EXAMPLE))
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_the_markdown_runbook_releases_the_demo_service_and_rolls_back_a_bad_one(
    run_cli: RunCli, example: tuple[Path, str], mark: str
) -> None:
    path, listen = example
    python = ["--var", f"python={sys.executable}"]
    env = {MARKER: mark}
    for version in ("v1", "v2"):
        done = run_cli("deploy", str(path), "-e", "local", "--version", version, *python, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert version_at(listen) == version
    bad = run_cli(
        "deploy", str(path), "-e", "local", "--version", "v3", *python,
        "--var", "error_rate=1", env=env,
    )  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "smoke: home page answers" in bad.stderr
    assert "rolled back v3; the previous version serves all traffic" in bad.stderr
    assert {version_at(listen) for _ in range(20)} == {"v2"}
    history = json.loads(run_cli("history", "--json").stdout)
    assert [r["status"] for r in history][:3] in (
        ["rolled_back", "succeeded", "succeeded"],
        ["succeeded", "succeeded", "rolled_back"],
    )
