"""Executable Markdown: what a person writes in a runbook document is what runwright runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runwright.app.plans.expansion import build_plan
from runwright.errors import RunbookError
from runwright.model.importer import dump_yaml, import_markdown
from runwright.model.loader import Runbook, build_runbook, load_text
from runwright.model.markdown import convert, parse_markdown, split_shell
from runwright.model.source import parse_yaml
from runwright.steps.registry import step_kinds

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "hello-markdown.md"

DOC = """---
name: shop
vars: {port: 8080}
---

# Shop

Deploys the shop.

## Prepare

```sh {name=backup timeout=10m idempotent=true retries=2 undo="rm -f /tmp/b.sql"}
pg_dump shop > /tmp/b.sql
```

### Sign-off
- [ ] Product owner approved
- [x] Health answers {http="http://127.0.0.1:{{ port }}/health"}
- [ ] Pid file present {run="test -s /tmp/shop.pid"}

## Release

```yaml {step}
name: soak
wait: {duration: 5m, reason: watch the graphs}
```

```bash
# Restart the app
systemctl restart shop \\
  --no-block

# Check it
curl -f http://127.0.0.1:8080/health
```

```python
print("not a step")
```

## Rollback

```sh {name="restore"}
psql shop < /tmp/b.sql
```

## Troubleshooting

### Slow pages

Look at the database first.

```bash
# Slow queries
psql -c 'select 1'
```
"""


def load(text: str, file: str = "shop.md") -> Runbook:
    return load_text(text, file, step_kinds(), parse_markdown)


def plan_of(book: Runbook, env: str = "production") -> dict[str, Any]:
    name, environment = env, book.environments[env]
    variables = {**book.vars, **environment.vars, "version": "v1", "environment": name}
    return build_plan(book, name, environment, "v1", variables).as_dict()


def test_headings_become_phases_and_annotated_blocks_executable_steps() -> None:
    book = load(DOC)
    assert book.name == "shop"
    assert [p.name for p in book.phases] == ["Prepare", "Release"]
    backup, gate = book.phases[0].steps
    assert (backup.name, backup.kind, backup.manual) == ("backup", "run", False)
    assert (backup.timeout, backup.retries, backup.idempotent) == (600.0, 2, True)
    assert backup.undo_step is not None
    assert backup.undo_step.params["command"] == "rm -f /tmp/b.sql"
    assert gate.name == "Sign-off"
    items = gate.params["items"]
    assert items[0] == {"text": "Product owner approved", "check": None}
    assert items[1]["check"]["http"]["url"] == "http://127.0.0.1:{{ port }}/health"
    assert items[2]["check"] == {
        "run": {**items[2]["check"]["run"], "command": "test -s /tmp/shop.pid"}
    }


def test_yaml_step_blocks_and_unannotated_shell_blocks() -> None:
    release = load(DOC).phases[1].steps
    assert [s.name for s in release] == ["soak", "Restart the app", "Release: Check it"]
    assert release[0].kind == "wait"
    assert release[0].params["duration"] == 300.0
    assert release[1].manual
    assert release[2].manual
    assert release[1].params["command"] == "systemctl restart shop \\\n  --no-block"


def test_rollback_section_and_procedures() -> None:
    book = load(DOC)
    assert [s.name for s in book.rollback] == ["restore"]
    assert not book.rollback[0].manual
    assert list(book.procedures) == ["Slow pages"]
    assert [s.name for s in book.procedures["Slow pages"]] == ["Slow pages: Slow queries"]
    assert "Look at the database first." in book.procedure_text["Slow pages"]


def test_steps_know_their_markdown_lines() -> None:
    book = load(DOC)
    lines = DOC.split("\n")
    backup, gate = book.phases[0].steps
    assert backup.line is not None
    assert gate.line is not None
    assert book.phases[1].steps[1].line is not None
    assert lines[backup.line - 1].startswith("```sh {name=backup")
    assert lines[gate.line - 1] == "- [ ] Product owner approved"
    assert lines[book.phases[1].steps[1].line - 1] == "# Restart the app"


@pytest.mark.parametrize(
    ("broken", "where", "message"),
    [
        ("timeout=10m idempotent", "tiemout=10m idempotent", "unknown key 'tiemout'"),
        ("reason: watch", "reson: watch", "unknown key 'reson'"),
        ("vars: {port: 8080}", "vars: [port", "YAML syntax error"),
    ],
)
def test_errors_point_at_the_markdown_line_and_column(
    broken: str, where: str, message: str
) -> None:
    text = DOC.replace(broken, where)
    with pytest.raises(RunbookError) as caught:
        load(text)
    err = caught.value
    assert message in str(err)
    assert err.line is not None
    assert err.column is not None
    line = text.split("\n")[err.line - 1]
    if "unknown key" in message:
        assert line[err.column - 1 :].startswith(message.split("'")[1])
    else:
        assert err.line in (3, 4)


def test_unparseable_attributes_are_an_error_at_the_fence() -> None:
    with pytest.raises(RunbookError) as caught:
        load('# T\n\n## A\n\n```sh {name="open quote}\necho\n```\n')
    assert caught.value.line == 5
    assert "attributes" in caught.value.message


def test_nothing_is_dropped_silently() -> None:
    conversion = convert(DOC, "shop.md")
    covered: set[int] = set()
    for note in conversion.notes:
        covered.update(range(note.line, note.end + 1))
    assert any(n.kind == "code block (python)" and n.kept is None for n in conversion.notes)
    described = [n for n in conversion.notes if n.kept]
    assert any(n.text == "Deploys the shop." for n in described)
    assert any(n.text == "Look at the database first." for n in described)


def test_shell_split_keeps_multiline_commands_whole() -> None:
    text = "\n".join(
        [
            "# Loop",
            "for x in a b; do",
            "  # inside the loop",
            "  echo $x",
            "done",
            "# Heredoc",
            "cat <<EOF > f",
            "# not a comment",
            "EOF",
            "# Quoted",
            "curl -d '{",
            '  "a": 1',
            "}' http://x",
            "VAR=$(date)",
            "",
            "echo $VAR",
            "# nothing after this",
        ]
    )
    commands, leftovers = split_shell(text, 10)
    assert [c.name for c in commands] == ["Loop", "Heredoc", "Quoted"]
    assert commands[0].command.endswith("done")
    assert "# not a comment" in commands[1].command
    assert commands[2].command.endswith("echo $VAR")
    assert commands[2].line == 19
    assert leftovers == [(26, "nothing after this")]


def test_imported_text_that_looks_like_templating_stays_literal() -> None:
    book = load("# T\n\n## Go\n\n```bash\n# Show sha\necho ${{ github.sha }}\n```\n")
    plan = plan_of(book)
    assert plan["steps"][0]["actions"][1] == "$ echo ${{ github.sha }}"


def test_environments_are_inferred_when_not_declared() -> None:
    assert list(load("# T\n\n## Staging deploy\n\n- [ ] ok\n").environments) == [
        "staging",
        "production",
    ]
    assert list(load("# T\n\n## Deploy\n\n- [ ] ok\n").environments) == ["production"]


def test_example_and_its_yaml_import_give_the_same_plan() -> None:
    text = EXAMPLE.read_text()
    book = load(text, str(EXAMPLE))
    imported = import_markdown(text, str(EXAMPLE))
    yaml_book = build_runbook(parse_yaml(dump_yaml(imported.runbook), "x.yaml"), step_kinds())
    for env in ("staging", "production"):
        assert plan_of(book, env) == plan_of(yaml_book, env)
    kinds = [s["kind"] for s in plan_of(book, "staging")["steps"]]
    assert kinds == ["run", "run", "http", "gate"]
