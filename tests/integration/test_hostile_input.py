"""Hostile runbooks and flags are bad input: exit 2 with ``file:line:col``, fast and small.

Each case runs the real ``runwright`` command line in a child process. The child measures
the command itself (after Python has imported runwright and created the state database,
which cost the same for every command) and its own peak memory (``VmHWM``: the high-water
mark of its address space since exec; ``wait4``'s ``ru_maxrss`` would also count the pages
a child shares with a large parent between fork and exec): every case must end with exit 2
within 2 s and 200 MB, naming the spot in the file, never "internal error".
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import ROOT, RunCli, cli_command, cli_environ

CHILD = """
import json, sys, time
from runwright.cli.main import cli
try:
    cli(["history"], prog_name="runwright")  # creates the state database: not measured
except SystemExit:
    pass
start = time.monotonic()
try:
    cli(sys.argv[2:], prog_name="runwright")
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
seconds = time.monotonic() - start
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "seconds": seconds, "peak_kb": peak_kb}, out)
"""


def alias_bomb() -> str:
    """About 2.3 KB of YAML that expands to 10**10 strings."""
    lines = ["name: bomb", "vars:", '  a0: &a0 ["' + "lol" * 480 + '"]']
    for n in range(1, 11):
        lines.append(f"  a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]")
    lines += ["phases:", "  - name: p", "    steps:", "      - run: echo hi"]
    return "\n".join(lines) + "\n"


STEP = "name: t\nphases:\n  - name: p\n    steps:\n      - name: s\n        run: {}\n"
HOSTILE = {
    "alias-bomb.yaml": (alias_bomb(), r":\d+:\d+: this document expands to more than"),
    "big-int.yaml": ("name: n\nvars:\n  n: " + "9" * 5000 + "\nphases: []\n",
                     r":3:6: number too long \(5000 digits\)"),
    "self-alias.yaml": ("name: r\nvars:\n  a: &a [1, *a]\nphases: []\n",
                        r":3:\d+: a YAML anchor refers to itself"),
    "bad-date.yaml": ("name: d\nvars:\n  when: 2024-13-45\nphases: []\n",
                      r":3:9: invalid value '2024-13-45'"),
    "deep.yaml": ("name: d\nvars:\n  x: " + "[" * 5000 + "]" * 5000 + "\nphases: []\n",
                  r":\d+:\d+: (nested more than|YAML syntax error)"),
    "include.yaml": (STEP.format("\"echo {% include 'secrets.txt' %}\""),
                     r":6:14: \{% include %\} is not allowed"),
    "extends.yaml": (STEP.format("\"{% extends 'base.yaml' %}\""),
                     r":6:14: \{% extends %\} is not allowed"),
    "nested-range.yaml": (
        STEP.format('"{% for i in range(100000) %}{% for j in range(100000) %}'
                    '{{ i }}{% endfor %}{% endfor %}"'),
        r":5: step 's': run: template too expensive",
    ),
    "bomb-front-matter.md": (
        "---\n"
        + alias_bomb().split("phases:")[0]
        + "---\n# Deploy\n\n```sh\necho hi\n```\n",
        r":\d+:\d+: this document expands to more than",
    ),
}  # fmt: skip


def run_measured(state_dir: Path, tmp_path: Path, *args: str) -> tuple[int, float, float, str]:
    """(exit code, seconds inside the command, peak RSS in MB, stderr) of one CLI call."""
    result = tmp_path / "result.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(result), *args],
        env=cli_environ(state_dir),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait()
    measured = json.loads(result.read_text())
    return measured["code"], measured["seconds"], measured["peak_kb"] / 1024, err


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_runbook_exits_2_fast_and_small_naming_the_spot(
    name: str, tmp_path: Path, state_dir: Path
) -> None:
    text, where = HOSTILE[name]
    path = tmp_path / name
    path.write_text(text)
    if name == "alias-bomb.yaml":
        assert 2000 <= len(text.encode()) <= 2600
    code, seconds, peak_mb, err = run_measured(state_dir, tmp_path, "plan", str(path))
    assert code == 2, err
    assert re.search(re.escape(str(path)) + where, err), err
    assert "internal error" not in err
    assert "Traceback" not in err
    assert seconds < 2.0, f"{name}: {seconds:.2f}s"
    assert peak_mb < 200, f"{name}: {peak_mb:.0f} MB"


INJECTION = "v1'; touch X; echo '"


def cli_in_dir(state_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        env=cli_environ(state_dir),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_the_version_injection_is_refused_and_runs_nothing(
    command: str, tmp_path: Path, state_dir: Path
) -> None:
    book = ROOT / "examples" / "hello-http.yaml"
    result = cli_in_dir(state_dir, tmp_path, command, str(book), "-e", "staging",
                        "--version", INJECTION)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "does not match the default version pattern" in result.stderr
    assert f"{book}:" in result.stderr
    assert not (tmp_path / "X").exists()
    assert not (ROOT / "X").exists()


RAW_BOOK = """
name: raw
version_pattern: '.*'
phases:
  - name: p
    steps:
      - name: publish
        run: echo '{{ version | raw }}' >> out
"""


def test_raw_over_the_version_is_refused_even_with_a_loose_pattern(
    tmp_path: Path, state_dir: Path
) -> None:
    book = tmp_path / "raw.yaml"
    book.write_text(RAW_BOOK)
    plan = cli_in_dir(state_dir, tmp_path, "plan", str(book), "--version", INJECTION)
    assert plan.returncode == 2, plan.stderr
    assert f"{book}:7: step 'publish'" in plan.stderr
    assert "'raw' would splice --version unquoted" in plan.stderr
    deploy = cli_in_dir(state_dir, tmp_path, "deploy", str(book), "--version", INJECTION)
    assert deploy.returncode == 1, deploy.stderr
    assert "'raw' would splice --version unquoted" in deploy.stderr
    assert not (tmp_path / "X").exists()
    assert not (tmp_path / "out").exists()  # the command never ran
    lint = cli_in_dir(state_dir, tmp_path, "lint", str(book))
    assert lint.returncode == 1
    assert "[raw-outside]" in lint.stdout


@pytest.mark.slow
def test_a_narrow_version_pattern_and_the_unsafe_opt_in(tmp_path: Path, run_cli: RunCli) -> None:
    book = tmp_path / "strict.yaml"
    book.write_text(
        RAW_BOOK.replace("'.*'", "'v[0-9]+'").replace("raw }}", "raw(unsafe=true) }}")
        .replace(">> out", f">> {tmp_path}/out")
    )  # fmt: skip
    refused = run_cli("deploy", str(book), "--version", "1.0")
    assert refused.returncode == 2
    assert "does not match the runbook's version_pattern 'v[0-9]+'" in refused.stderr
    shipped = run_cli("deploy", str(book), "--version", "v7")
    assert shipped.returncode == 0, shipped.stderr
    assert (tmp_path / "out").read_text() == "v7\n"
    assert "[raw-unsafe]" in run_cli("lint", str(book)).stdout


def test_a_bad_version_pattern_is_refused_at_its_line(tmp_path: Path, run_cli: RunCli) -> None:
    book = tmp_path / "bad.yaml"
    book.write_text("name: b\nversion_pattern: 'v[0-9'\nphases: []\n")
    result = run_cli("validate", str(book))
    assert result.returncode == 2
    assert f"{book}:2:18: version_pattern: not a valid regular expression" in result.stderr


@pytest.mark.slow
def test_import_of_20000_table_rows_finishes_and_keeps_every_threshold(
    tmp_path: Path, run_cli: RunCli
) -> None:
    rows = "\n".join(
        f"| error rate | > {n}.5% | > {n + 5}% for {n % 9 + 1} minutes |" for n in range(20000)
    )
    source = tmp_path / "big.md"
    source.write_text(
        "# Big\n\n## Deploy\n\n```sh\necho hi\n```\n\n## Monitoring\n\n"
        "| Metric | Warning | Critical |\n|---|---|---|\n" + rows + "\n"
    )
    out = tmp_path / "big.yaml"
    result = run_cli("import", str(source), "-o", str(out), timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "draft checks to confirm (40000)" in result.stderr
    text = out.read_text()
    assert "error-rate-warning-20000:" in text
    assert "error-rate-critical-20000:" in text


def test_import_to_a_missing_directory_is_a_clean_error(tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / "no" / "such" / "dir.yaml"
    result = run_cli("import", str(ROOT / "examples" / "hello-markdown.md"), "-o", str(target))
    assert result.returncode == 2
    assert f"error: {target}: cannot write: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


PATTERN_BOOK = "name: p\nversion_pattern: {pattern}\nphases:\n  - name: p\n    steps:\n" \
    "      - name: s\n        run: echo {{{{ version }}}}\n"  # fmt: skip
EVIL_VERSION = "a" * 4000 + "!"


def pattern_book(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "pattern.yaml"
    path.write_text(PATTERN_BOOK.format(pattern=json.dumps(pattern)))
    return path


def validate_and_plan(state_dir: Path, tmp_path: Path, book: Path) -> list[tuple[int, str]]:
    """Run ``validate`` and ``plan --version aaaa...!`` on ``book``; each must end within 2 s
    (measured inside the child) with exit 0, or exit 2 without a traceback."""
    out = []
    for args in (("validate", str(book)), ("plan", str(book), "--version", EVIL_VERSION)):
        code, seconds, peak_mb, err = run_measured(state_dir, tmp_path, *args)
        assert seconds < 2.0, f"{args[0]} {book.read_text()!r}: {seconds:.2f}s"
        assert peak_mb < 200, f"{args[0]}: {peak_mb:.0f} MB"
        assert code in (0, 2), err
        assert "internal error" not in err, err
        assert "Traceback" not in err, err
        out.append((code, err))
    return out


@pytest.mark.parametrize("pattern", ["(a+)+$", "((a*)*)*b", "(a|aa)+$", "(a|a?)+$"])
def test_a_backtracking_pattern_cannot_hang_validate_or_plan(
    pattern: str, tmp_path: Path, state_dir: Path
) -> None:
    book = pattern_book(tmp_path, pattern)
    (valid, _), (planned, err) = validate_and_plan(state_dir, tmp_path, book)
    assert valid == 0
    assert planned == 2
    assert f"{book}: version 'aaaa" in err
    assert "does not match the runbook's version_pattern" in err


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ("a{99999999999}", "repetition '{99999999999}' is over 1000"),
        (
            "(a{500}){500}",
            "not a valid regular expression for RE2 (invalid repetition size: {500})",
        ),
        ("(a)\\1", "not a valid regular expression for RE2 (invalid escape sequence: \\1)"),
        ("v(?=1)", "not a valid regular expression for RE2 (invalid perl operator: (?=)"),
    ],
    ids=["huge-count", "huge-program", "backreference", "lookahead"],
)
def test_an_absurd_or_backtracking_only_pattern_is_refused_at_its_line(
    pattern: str, named: str, tmp_path: Path, state_dir: Path
) -> None:
    book = pattern_book(tmp_path, pattern)
    for code, err in validate_and_plan(state_dir, tmp_path, book):
        assert code == 2
        assert f"{book}:2:18: version_pattern: {named}" in err, err


@pytest.mark.parametrize(
    "expression",
    [
        "lipsum(1000000)",
        "lipsum(5, false, 20, 10000000)",
        "range(10**7) | list | length",
        "lipsum(100) * 1000",
    ],  # fmt: skip
)
def test_a_huge_template_global_is_refused_quickly(
    expression: str, tmp_path: Path, state_dir: Path
) -> None:
    path = tmp_path / "lipsum.yaml"
    path.write_text(STEP.format(json.dumps("echo {{ " + expression + " }}")))
    code, seconds, _peak, err = run_measured(state_dir, tmp_path, "validate", str(path))
    assert code in (0, 2), err
    assert seconds < 2.0, f"validate {expression}: {seconds:.2f}s"
    code, seconds, peak_mb, err = run_measured(state_dir, tmp_path, "plan", str(path))
    assert code == 2, err
    assert f"{path}:5: step 's': run: template too expensive" in err, err
    assert seconds < 2.0, f"{expression}: {seconds:.2f}s"
    assert peak_mb < 200, f"{expression}: {peak_mb:.0f} MB"


def patterns() -> st.SearchStrategy[str]:
    """Random regular expressions built from atoms, nesting, alternation and quantifiers
    (counts up to ten digits): the shapes that make a backtracking engine hang."""
    atoms = st.sampled_from(["a", "aa", ".", "[ab]", "a?", "\\d", "(?:a|b)", "!", "$"])
    quantifiers = st.sampled_from(["", "*", "+", "?", "{2}", "{1,5}", "{0,}", "{99999999999}",
                                   "*?", "+?"])  # fmt: skip

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        group = st.tuples(inner, quantifiers).map(lambda t: f"({t[0]}){t[1]}")
        alternation = st.tuples(inner, inner).map(lambda t: f"{t[0]}|{t[1]}")
        sequence = st.lists(inner, min_size=2, max_size=3).map("".join)
        return group | alternation | sequence

    leaves = st.tuples(atoms, quantifiers).map("".join)
    return st.recursive(leaves, extend, max_leaves=8)


@pytest.mark.slow
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pattern=patterns())
def test_no_random_pattern_hangs_validate_or_plan(
    pattern: str, tmp_path: Path, state_dir: Path
) -> None:
    book = pattern_book(tmp_path, pattern)
    for code, err in validate_and_plan(state_dir, tmp_path, book):
        if code == 2 and "version_pattern:" in err:
            assert f"{book}:2:18: version_pattern: " in err, err
