"""Which ``{{ }}`` of a shell command land where shell quoting holds, and which do not."""

from __future__ import annotations

import subprocess

import pytest

from runwright.errors import RunbookError
from runwright.model.shell_context import misplaced
from runwright.model.templating import render

WORDS = [
    "echo {{ site }}",
    "echo --to={{ site }}/x",
    "echo $(echo {{ site }})",
    'kill "$(cat {{ site }}/{{ env }}.pid)" 2>/dev/null || true',
    "cat <<< {{ site }}",
    'echo "it\'s" {{ site }} \'a\' "b"',
    "cat <<'X'\n$(touch nothing)\nX\necho {{ site }}",
    "echo {% if site %}{{ site }}{% endif %}",
    "echo $((1 + 2)) {{ site }}",
]
QUOTED = [
    ('echo "to {{ site }}"', "double quotes"),
    ("echo 'to {{ site }}'", "single quotes"),
    ("echo `echo {{ site }}`", "backticks"),
    ("echo $'{{ site }}'", "$'...' quotes"),
    ("echo ${X:-{{ site }}}", "${...}"),
    ("echo $(( {{ site }} ))", "arithmetic $(( ))"),
    ("(( {{ site }} > 1 ))", "arithmetic (( ))"),
    ("cat <<END\n{{ site }}\nEND", "a heredoc"),
    ("cat <<-'END'\n\t{{ site }}\n\tEND", "a heredoc"),
    ("echo a # {{ site }}", "a comment (a newline in the value would end it)"),
    ("echo \\{{ site }}", "a backslash"),
    ("echo ${{ site }}", "a $ right before it"),
    ('echo "$(echo "{{ site }}")"', "double quotes"),
]


@pytest.mark.parametrize("command", WORDS)
def test_a_value_that_is_a_word_is_accepted_and_stays_inert(command: str, tmp_path) -> None:
    assert misplaced(command) == []
    marker = tmp_path / "marker"
    value = f"$(touch {marker})'\"`touch {marker}`;touch {marker}\n"
    script = render(command, {"site": value, "env": "x"}, shell=True)
    subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, check=False)
    assert not marker.exists()


@pytest.mark.parametrize(("command", "context"), QUOTED)
def test_a_value_inside_quotes_is_misplaced(command: str, context: str) -> None:
    assert [(m.expression, m.context) for m in misplaced(command)] == [("{{ site }}", context)]


def test_the_authors_own_text_is_left_alone() -> None:
    assert misplaced("echo \"{{ 'literal' }}\" '{{ flags | raw }}'") == []
    assert [m.expression for m in misplaced('echo "{{ site | quote }}"')] == ["{{ site | quote }}"]


def test_the_loader_refuses_it_at_the_expression(tmp_path) -> None:
    from runwright.app.runtime.runtime import read_runbook

    book = tmp_path / "b.yaml"
    book.write_text(
        "name: b\nenvironments: {x: {}}\nphases:\n  - name: p\n    steps:\n"
        '      - run: echo "to {{ site }}"\n'
    )
    with pytest.raises(RunbookError) as err:
        read_runbook(book)
    assert (err.value.line, err.value.column) == (6, 23)
    assert 'env: {NAME: "{{ value }}"}' in str(err.value)


def test_every_kind_of_shell_command_is_checked() -> None:
    from runwright.model.shell_checks import shell_commands

    book = {
        "checks": {"c": {"provider": "command", "query": "a"}, "h": {"query": "not shell"}},
        "service": {
            "command": "b",
            "driver": {"kind": "command", "start": "c", "stop": "d"},
            "router": {"kind": "command", "route": "e"},
        },
        "phases": [
            {
                "steps": [
                    {"run": "f", "undo": "g"},
                    {"run": {"command": "h", "env": {"run": "not shell"}}},
                    {"migrate": {"command": "i", "undo": "j"}},
                    {"gate": {"items": [{"check": {"run": "k"}}]}},
                ]
            }
        ],
        "vars": {"run": "not shell"},
    }
    assert sorted(text for _, text in shell_commands(book)) == list("abcdefghijk")
