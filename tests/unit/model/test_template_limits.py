"""Hostile templates: each is refused as bad input, quickly and without eating memory.

A template is a small program inside a runbook: loops, macros, string arithmetic. Each of
these would hang ``plan`` or exhaust the machine without a budget; with it each one is an
InputError (exit 2 at the edge) naming why. The peak memory of a process rendering them all
is checked at the end: none of them may have built its giant value first and refused it
afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runwright.errors import InputError
from runwright.model.templating import Outside, outside, problem, raw_uses, render

SRC = Path(__file__).resolve().parents[3] / "src"

HOSTILE = {
    "nested range": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "string times a billion": "{{ 'x' * 1000000000 }}",
    "center filter": "{{ 'x' | center(1000000000) }}",
    "ljust method": "{{ 'x'.ljust(1000000000) }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "percent width": "{{ '%999999999d' % 1 }}",
    "format filter width": "{{ '%999999999d' | format(1) }}",
    "huge power": "{{ 2 ** 100000000 }}",
    "doubling by ~": "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "doubling by +": "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "squaring numbers": "{% set ns = namespace(n=3) %}{% for i in range(64) %}"
    "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    "exponential macro": "{% macro a(n) %}{% if n %}{{ a(n-1) }}{{ a(n-1) }}{% endif %}"
    "{% endmacro %}{{ a(40) }}",
    "endless recursion": "{% macro a() %}{{ a() }}{% endmacro %}{{ a() }}",
    "batch padding": "{{ ([1] | batch(1000000000, 'x')) | list }}",
    "growing replace": "{{ ('x' * 1000) | replace('x', 'y' * 100000) }}",
    "giant join": "{{ (['x' * 900000] * 100) | join }}",
    "list mutation": "{% set l = [1] %}{% for i in range(100) %}{{ l.extend(l) }}{% endfor %}",
    "long loop with output": "{% for i in range(100000) %}{{ i }}{% endfor %}",
    "include": "{% include 'other.yaml' %}",
    "extends": "{% extends 'base' %}",
    "import": "{% import 'macros' as m %}",
    "division by zero": "{{ 1 / 0 }}",
    "python internals": "{{ ''.__class__.__mro__ }}",
}


@pytest.mark.parametrize("template", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_template_is_bad_input(template: str) -> None:
    with pytest.raises(InputError):
        render(template, {}, shell=True, where="step 'x'")


CHILD = """
import json, sys
from runwright.errors import InputError
from runwright.model.templating import render
refused = 0
for template in json.loads(sys.stdin.read()):
    try:
        render(template, {}, where="x")
    except InputError:
        refused += 1
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(refused, peak_kb)
"""


def test_no_hostile_template_built_its_giant_value_first() -> None:
    """Rendered in a process of their own, so that the peak is theirs, not that of whatever
    other test ran before in this process (under xdist, any order of them). The peak is the
    child's ``VmHWM`` (its address space since exec; its ``ru_maxrss`` would count the pages it
    shared with this large process between fork and exec). It peaks near 30 MB; the smallest
    giant value here (the join) would be 90 MB more."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(list(HOSTILE.values())),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    refused, peak_kb = (int(field) for field in done.stdout.split())
    assert refused == len(HOSTILE)
    peak_mb = peak_kb / 1024
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"


def test_ordinary_templates_still_render() -> None:
    context = {"hosts": ["a", "b", "c"], "n": 3, "version": "v1.2"}
    assert render("{% for h in hosts %}{{ h }}{% if not loop.last %},{% endif %}{% endfor %}",
                  context) == "a,b,c"  # fmt: skip
    assert render("{{ hosts | join(' ') }} {{ n * 2 }} {{ 'v' ~ n }}", context) == "a b c 6 v3"
    assert render("{{ '%05d' % n }} {{ '{:>4}'.format(n) }}", context) == "00003    3"
    assert render("{% for i in range(50000) %}{% endfor %}done", context) == "done"


def test_include_and_extends_are_found_before_rendering() -> None:
    assert "include" in (problem("echo {% include 'x' %}") or "")
    assert "extends" in (problem("{% extends 'x' %}") or "")
    assert problem("echo {{ version }}") is None
    assert "template error" in (problem("echo {{ version ") or "")


def test_raw_refuses_an_outside_value_in_a_shell_command() -> None:
    context = {"version": outside("v1'; touch X; echo '", "--version")}
    with pytest.raises(InputError, match="--version unquoted") as caught:
        render("echo '{{ version | raw }}'", context, shell=True)
    assert "raw(unsafe=true)" in (caught.value.hint or "")


def test_raw_of_a_captured_value_nested_in_a_mapping_is_refused() -> None:
    context = {"captured": {"body": outside({"token": "$(id)"}, "captured value 'body'")}}
    with pytest.raises(InputError, match="captured value 'body'.token"):
        render("curl {{ captured.body.token | raw }}", context, shell=True)


def test_raw_with_unsafe_true_is_the_explicit_opt_in() -> None:
    context = {"flags": outside("--force --yes", "--var flags")}
    assert render("deploy {{ flags | raw(unsafe=true) }}", context, shell=True) == (
        "deploy --force --yes"
    )


def test_raw_of_the_runbooks_own_value_and_outside_values_quoted_still_work() -> None:
    context = {"flags": "--force", "version": Outside("a b", "--version")}
    assert render("x {{ flags | raw }} {{ version }}", context, shell=True) == "x --force 'a b'"
    assert render("{{ version | raw }}", context) == "a b"  # not a shell: nothing to splice


def test_raw_uses_lists_each_raw_and_its_opt_in() -> None:
    found = raw_uses("{{ version | raw }} {{ captured.tok | raw(unsafe=true) }} {{ a }}")
    assert found == [("version", False), ("captured.tok", True)]


def test_raw_of_a_secret_is_refused_in_a_shell_command() -> None:
    context = {"secrets": outside({"TOKEN": "a b; c"}, "secret")}
    with pytest.raises(InputError, match=r"secret\.TOKEN unquoted"):
        render("curl -u {{ secrets.TOKEN | raw }}", context, shell=True)
    assert render("curl -u {{ secrets.TOKEN }}", context, shell=True) == "curl -u 'a b; c'"
