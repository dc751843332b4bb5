"""Fuzzing the doors input comes through: the YAML loader, the Markdown importer, templates.

Hypothesis mutates real runbooks (the examples, the fixtures, the five seed runbooks) with
the pieces hostile or broken files are made of (aliases, tags, huge numbers, template tags,
stray quotes, tabs, NULs) and drives the real command line in-process, so the exit-code
mapping is exercised: every outcome must be exit 0 or 2, never a traceback, an "internal
error" or a hang, and a refused file is named as ``file:line:col``. Templates are also
rendered directly, where anything but a string or an InputError is a bug. The budget is
fixed (``max_examples``, no deadline per example, well under a minute in all);
``RUNWRIGHT_FUZZ_EXAMPLES`` raises it for a long local hunt.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwright.cli.main import cli
from runwright.errors import InputError
from runwright.model.templating import outside, render

# Under xdist one worker runs the whole module: its state directory is shared by the module.
pytestmark = pytest.mark.xdist_group("fuzz_input")

ROOT = Path(__file__).resolve().parents[2]
YAML_BASES = [
    ROOT / "examples" / "hello-http.yaml",
    ROOT / "examples" / "db-release.yaml",
    *sorted((ROOT / "tests" / "fixtures" / "runbooks").glob("*.yaml")),
]
MD_BASES = [
    ROOT / "examples" / "hello-markdown.md",
    ROOT / "examples" / "demo-release.md",
    *sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.md")),
]
EXAMPLES = int(os.environ.get("RUNWRIGHT_FUZZ_EXAMPLES", "0")) or None

PIECES = [
    "&a ", "*a", "&b [*a, *a, *a]", "<<: *a", "? ", ": ", "- ", "-", "\t", "\n", "  ", "    ",
    "[", "]", "{", "}", "'", '"', "\\", "#", "|", ">", "---\n", "...\n", "null", "~", "!!",
    "!!python/object/apply:os.system ['id']", "!!binary xyz", "!!timestamp", "!!int x",
    "2024-13-45", "9" * 5000, "1e999", "0x", "0o9", "-.inf", "true", "\x00", "\x85", "é",
    "\ufeff", "%YAML 1.1\n", "%TAG ! x\n", "&", "*", "!", "@", "`", "%",
    "{{ ", " }}", "{% ", " %}", "{{ version | raw }}", "{{ captured.x | raw }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}", "{% endfor %}{% endfor %}",
    "{% include 'x' %}", "{% extends 'y' %}", "{{ 'x' * 999999999 }}", "{{ undefined_name }}",
    "{{ secrets.nope }}", "${{ github.sha }}", "{% raw %}", "{% endraw %}", "{#", "#}",
    "- [ ] ", "- [x] ", "```sh\n", "```yaml\n", "```\n", "## Rollback\n", "# Title\n",
    "| Metric | > 5% | > 10% for 5 minutes |\n", "|---|---|\n", "<!-- runwright: -->",
    "timeout: 0s", "timeout: -5s", "retries: 99999999999", "idempotent: maybe",
    "undo: {}", "run: ", "http: ", "gate: ", "approval: ", "wait: ", "kind: x",
    "name: x", "name: ", "phases: 7", "steps: []", "environments: {a: {requires: a}}",
    "version_pattern: '['", "version_pattern: '.*'", "secrets: {s: {env: S, file: f}}",
]  # fmt: skip
ENV = {"CI": "1", "RUNWRIGHT_USER": "fuzz"}


@st.composite
def mutated(draw: st.DrawFn, bases: list[Path]) -> str:
    text = draw(st.sampled_from(bases)).read_text()
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dupline", "dropline", "cut"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        piece = draw(st.sampled_from(PIECES) | st.text(max_size=8))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        elif op == "cut":
            text = text[:at]
        else:
            lines = text.split("\n")
            n = draw(st.integers(0, max(len(lines) - 1, 0)))
            if op == "dupline":
                lines.insert(n, lines[n] if lines else "")
            elif lines:
                lines.pop(n)
            text = "\n".join(lines)
    return text


def invoke(state: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={**ENV, "RUNWRIGHT_STATE_DIR": str(state)})
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: {result.exception!r}\n{output}") from result.exception
    assert "internal error" not in output, output
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 2), f"{args}: exit {result.exit_code}\n{output}"
    return result.exit_code, output


def assert_located(code: int, path: Path, output: str) -> None:
    """A refused file is named with the line and column to fix."""
    if code == 2:
        assert re.search(re.escape(str(path)) + r":\d+:\d+: ", output), output


def first_environment(text: str) -> list[str]:
    import yaml

    try:
        data = yaml.safe_load(text)
        envs = list(data.get("environments") or {})
        return ["-e", str(envs[0])] if envs else []
    except Exception:
        return []


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-state")


def budget(examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@pytest.mark.slow
@budget(250)
@given(text=mutated(YAML_BASES))
def test_mutated_yaml_runbooks_validate_and_plan_to_0_or_2(
    text: str, state: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, output = invoke(state, "validate", str(path))
    assert_located(code, path, output)
    if code == 0:
        invoke(state, "plan", str(path), "--version", "v1", *first_environment(text))


@pytest.mark.slow
@budget(120)
@given(text=mutated(MD_BASES))
def test_mutated_markdown_imports_and_validates_to_0_or_2(
    text: str, state: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fuzzed.md"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, output = invoke(state, "import", str(path), "-o", str(tmp_path / "out.yaml"), "-q")
    assert_located(code, path, output)
    code, output = invoke(state, "validate", str(path))
    assert_located(code, path, output)


TEMPLATE_PIECES = [
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "x", "version", "hosts", "n", "captured.tok",
    "|", "raw", "raw(unsafe=true)", "quote", "join", "length", "upper", "center(9**9)",
    "(", ")", "[", "]", ",", ".", "~", "+", "*", "**", "%", "/", "//", "-", "0", "1", "99999",
    "'a'", '"b"', "range(", "for i in ", "endfor", "if ", "endif", "else", "set s = ",
    "macro m()", "endmacro", "m()", "namespace(", "loop.index", "include 'f'", "extends 'f'",
    "import 'f' as g", "__class__", "mro()", "format(", "replace(", "batch(", "items()",
]  # fmt: skip
CONTEXT = {
    "version": outside("v1'; touch X; '", "--version"),
    "hosts": ["a", "b"],
    "n": 3,
    "captured": {"tok": outside("$(id)", "captured value 'tok'")},
}


@budget(800)
@given(
    pieces=st.lists(st.sampled_from(TEMPLATE_PIECES) | st.text(max_size=4), max_size=30),
    shell=st.booleans(),
)
def test_any_template_renders_or_is_an_input_error(pieces: list[str], shell: bool) -> None:
    try:
        result = render("".join(pieces), CONTEXT, shell=shell, where="fuzz")
    except InputError:
        return
    assert isinstance(result, str)
    assert len(result) <= 1_000_000


@budget(80)
@given(pieces=st.lists(st.sampled_from(TEMPLATE_PIECES), min_size=1, max_size=20))
def test_templates_in_a_runbook_plan_to_0_or_2(
    pieces: list[str], state: Path, tmp_path: Path
) -> None:
    command = json.dumps("echo " + "".join(pieces))
    path = tmp_path / "templated.yaml"
    path.write_text(
        f"name: t\nvars: {{hosts: [a, b], n: 3}}\nphases:\n  - name: p\n    steps:\n"
        f"      - name: s\n        run: {command}\n"
    )
    invoke(state, "plan", str(path), "--version", "v1")
