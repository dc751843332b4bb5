"""Runbooks as people write them (``tests/fixtures/markdown/``): where each section went.

Each fixture holds one pattern; each test states, heading by heading, what the reader made
of it, and checks the runbook imports, validates and plans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runwright.app.plans.expansion import build_plan
from runwright.errors import RunbookError
from runwright.model.importer import ImportResult, dump_yaml, import_markdown
from runwright.model.lint import lint
from runwright.model.loader import Runbook, build_runbook, load_text
from runwright.model.markdown import convert, parse_markdown
from runwright.model.source import parse_yaml
from runwright.steps.registry import step_kinds

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "markdown"


def text_of(name: str) -> str:
    return (FIXTURES / f"{name}.md").read_bytes().decode("utf-8")


def sections(name: str) -> dict[str, str]:
    return {heading: where for _, heading, where in convert(text_of(name), name).sections}


def imported(name: str) -> ImportResult:
    return import_markdown(text_of(name), f"{name}.md", automate_steps=False)


def book_of(name: str) -> Runbook:
    return build_runbook(parse_yaml(dump_yaml(imported(name).runbook), "x.yaml"), step_kinds())


def plan(book: Runbook, env: str = "production", version: str = "v1") -> dict[str, Any]:
    variables = {**book.vars, "version": version, "environment": env}
    return build_plan(book, env, book.environments[env], version, variables).as_dict()


def names(steps: list[dict[str, Any]]) -> list[str]:
    return [s["name"] for s in steps]


def test_every_fixture_imports_validates_and_plans() -> None:
    files = sorted(FIXTURES.glob("*.md"))
    assert len(files) >= 15
    for path in files:
        book = book_of(path.stem)
        for env in book.environments:
            assert plan(book, env)["steps"], path.name
        markdown = load_text(text_of(path.stem), path.name, step_kinds(), parse_markdown)
        assert [p.name for p in markdown.phases] == [p.name for p in book.phases]


def test_alternatives_become_procedures_and_a_choice_the_plan_shows() -> None:
    assert sections("alternatives") == {
        "Deploy": "phase 'Deploy'",
        "Option A: Helm upgrade (recommended)": (
            "procedure 'Deploy: Option A: Helm upgrade (recommended)'"
        ),
        "Option B: kubectl apply": "procedure 'Deploy: Option B: kubectl apply'",
        "Verify": "phase 'Verify'",
        "Rollback": "rollback 'rollback'",
        "Method 1: Helm rollback": "procedure 'Rollback: Method 1: Helm rollback'",
        "Method 2: Rollout undo": "procedure 'Rollback: Method 2: Rollout undo'",
        "Method 3: Redeploy the previous tag": (
            "procedure 'Rollback: Method 3: Redeploy the previous tag'"
        ),
    }
    book = book_of("alternatives")
    shown = plan(book)
    assert names(shown["steps"]) == ["Build the image", "choose one: Deploy", "Verify: Smoke test"]
    assert names(shown["rollback"]) == ["choose one: rollback"]
    choice = " ".join(shown["rollback"][0]["actions"])
    for method in ("Method 1: Helm rollback", "Method 2: Rollout undo", "Method 3"):
        assert method in choice
    assert [s.params["command"] for s in book.procedures["Rollback: Method 2: Rollout undo"]] == [
        "kubectl rollout undo deployment/payments"
    ]


def test_bold_labels_naming_alternatives_split_like_headings() -> None:
    assert sections("bold-alternatives") == {
        "Deploy": "phase 'Deploy'",
        "Rollback": "rollback 'rollback'",
        "Method 1: restart on the previous image": (
            "procedure 'Rollback: Method 1: restart on the previous image'"
        ),
        "Method 2: scale the new consumers to zero": (
            "procedure 'Rollback: Method 2: scale the new consumers to zero'"
        ),
    }
    book = book_of("bold-alternatives")
    assert [s.name for s in book.rollback] == ["choose one: rollback"]
    method_2 = book.procedures["Rollback: Method 2: scale the new consumers to zero"]
    assert [s.params["command"] for s in method_2] == [
        "kubectl scale deployment/consumer-new --replicas=0",
        "./lag.sh",
    ]


def test_a_section_marked_if_needed_is_a_procedure_behind_a_gate() -> None:
    assert sections("if-needed")["Database rollback (if needed)"] == (
        "procedure 'Database rollback (if needed)'"
    )
    book = book_of("if-needed")
    assert [s.name for s in book.rollback] == [
        "Rollback: Previous release",
        "if needed: Database rollback (if needed)",
        "Put the old infrastructure back",
    ]
    assert "pg_restore" in book.procedures["Database rollback (if needed)"][0].params["command"]
    markdown = load_text(text_of("if-needed"), "if-needed.md", step_kinds(), parse_markdown)
    flagged = [f for f in lint(markdown) if f.rule == "destructive"]
    assert [f.line for f in flagged] == [24, 31]  # the "if needed" gate does not confirm it


def test_drills_are_procedures_and_name_no_environment() -> None:
    assert sections("drills") == {
        "Deploy to production": "phase 'Deploy to production'",
        "Monthly rollback drill (staging)": "procedure 'Monthly rollback drill (staging)'",
        "Game day": "procedure 'Game day'",
        "Rollback": "rollback 'rollback'",
    }
    book = book_of("drills")
    assert list(book.environments) == ["production"]
    everything = [s.params.get("command", "") for _, s in book.steps()]
    everything += [s.params.get("command", "") for s in book.rollback]
    assert not any("broken" in c or "delete pod" in c for c in everything)


def test_troubleshooting_sections_are_procedures_even_under_rollback() -> None:
    assert sections("troubleshooting") == {
        "Deploy": "phase 'Deploy'",
        "Rollback": "rollback 'rollback'",
        "Rollback is slow": "procedure 'Rollback is slow'",
        "Pods stuck in CrashLoopBackOff": "procedure 'Pods stuck in CrashLoopBackOff'",
        "Troubleshooting": "procedure 'Troubleshooting'",
        "Database connection errors": "procedure 'Database connection errors'",
    }
    book = book_of("troubleshooting")
    assert names([{"name": s.name} for s in book.rollback]) == ["Undo the release"]
    assert "Restart PgBouncer" in book.procedure_text["Database connection errors"]


def test_reference_tables_and_contacts_are_notes_never_commands() -> None:
    assert sections("reference") == {
        "Deploy": "phase 'Deploy'",
        "Quick reference": "note 'Quick reference'",
        "Contacts": "note 'Contacts'",
        "Rollback": "rollback 'rollback'",
    }
    result = imported("reference")
    every = [s["run"] for p in result.runbook["phases"] for s in p["steps"]]
    assert not any("FLUSHALL" in c for c in every)
    assert "redis-cli FLUSHALL" in result.runbook["description"]
    assert all(n.kept for n in result.not_understood if 10 <= n.line <= 26)


def test_example_output_never_becomes_a_command() -> None:
    result = imported("example-output")
    runs = [s["run"] for s in result.runbook["phases"][0]["steps"]]
    assert runs == [
        "./deploy.sh {{ version }}",
        "curl -s https://billing.example.com/health",
        "kubectl get deploy billing",  # the console block's prompt line, not its output
    ]
    outputs = [n.line for n in result.not_understood if n.kind == "example output"]
    assert outputs == [15, 19, 26, 37]


def test_per_environment_sections_run_in_their_environment_only() -> None:
    book = book_of("per-environment")
    assert list(book.environments) == ["staging", "production"]
    staging, production = plan(book, "staging"), plan(book, "production")
    assert names(staging["steps"]) == ["Deploy to staging", "Seed test data", "Read the version"]
    assert names(production["steps"]) == [
        "Back up the database",
        "Deploy to production",
        "Check the checkout",
        "Read the version",
    ]


def test_a_step_limited_to_an_undeclared_environment_is_refused_at_its_line() -> None:
    text = (
        "name: svc\nenvironments: {production: {}}\nphases:\n  - name: go\n    steps:\n"
        "      - run: echo hi\n        environments: [prod]\n"
    )
    with pytest.raises(RunbookError) as caught:
        load_text(text, "svc.yaml", step_kinds())
    assert "unknown environment 'prod'" in caught.value.message
    assert (caught.value.line, caught.value.column) == (7, 24)


def test_heading_environments_follow_the_names_the_front_matter_declares() -> None:
    body = text_of("per-environment")
    named = "---\nenvironments: {stage: {}, prod: {requires: stage}}\n---\n" + body
    book = load_text(named, "shop.md", step_kinds(), parse_markdown)
    assert names(plan(book, "stage")["steps"]) == [
        "Deploy to staging",
        "Seed test data",
        "Read the version",
    ]
    assert len(plan(book, "prod")["steps"]) == 4
    only_production = "---\nenvironments: {production: {}}\n---\n" + body
    with pytest.raises(RunbookError) as caught:
        load_text(only_production, "shop.md", step_kinds(), parse_markdown)
    assert "unknown environment 'staging'" in caught.value.message
    assert caught.value.line == 9  # the first staging step, below "## Deploy to staging"


def test_crlf_line_endings_read_like_lf() -> None:
    text = text_of("crlf")
    assert "\r\n" in text
    crlf, lf = convert(text, "crlf.md"), convert(text.replace("\r\n", "\n"), "crlf.md")
    assert crlf.data == lf.data
    assert (
        crlf.sections
        == lf.sections
        == [
            (5, "Deploy", "phase 'Deploy'"),
            (17, "Rollback", "rollback 'rollback'"),
        ]
    )
    steps = crlf.data["phases"][0]["steps"]
    assert [s["name"] for s in steps] == ["Stop the service", "Copy the build", "Deploy"]
    assert not any("\r" in str(s) for s in steps)


def test_front_matter_names_the_runbook_and_its_environments() -> None:
    book = load_text(text_of("front-matter"), "fm.md", step_kinds(), parse_markdown)
    assert book.name == "inventory"
    assert list(book.environments) == ["staging", "production"]
    assert book.environments["production"].requires == "staging"
    assert plan(book)["steps"][0]["kind"] == "approval"
    assert book.phases[0].steps[0].timeout == 300


def test_nested_checklist_items_join_one_gate_and_code_under_an_item_runs_first() -> None:
    book = book_of("nested-checklists")
    first = book.phases[0]
    assert [s.name for s in first.steps] == ["List pending migrations", "Readiness"]
    assert first.steps[1].params["items"] == [
        {"text": text, "check": None}
        for text in (
            "Tests pass",
            "Unit tests",
            "Integration tests",
            "Migrations reviewed",
            "Release notes written",
        )
    ]


def test_html_comments_are_ignored_and_a_commented_out_block_never_runs() -> None:
    result = imported("html-comments")
    runs = [s["run"] for p in result.runbook["phases"] for s in p["steps"]]
    assert not any("legacy" in r for r in runs)
    comments = [n for n in result.not_understood if n.kind == "html comment"]
    assert [n.line for n in comments] == [3, 7]
    assert all(n.kept for n in comments)


def test_prevention_checklists_become_a_gate_before_the_first_phase() -> None:
    assert sections("prevention")["Before next deployment"] == "phase 'Before next deployment'"
    book = book_of("prevention")
    assert [p.name for p in book.phases] == ["Before next deployment", "Deploy"]
    gate = book.phases[0].steps[0]
    assert gate.kind == "gate"
    assert [i["text"] for i in gate.params["items"]] == [
        "Add an alert on queue depth",
        "Load-test the new consumer",
        "Update this runbook",
    ]
    assert [s.name for s in book.rollback] == ["Rollback: Back"]


def test_strategy_sections_are_kept_as_text() -> None:
    assert sections("strategy") == {
        "Rollback strategy": "note 'Rollback strategy'",
        "When to roll back": "note 'When to roll back'",
        "Deploy": "phase 'Deploy'",
        "Rollback": "rollback 'rollback'",
    }
    result = imported("strategy")
    assert "We prefer rolling forward" in result.runbook["description"]
    assert [s["name"] for s in result.runbook["rollback"]] == ["Rollback: Back"]
    assert any(d.line == 9 for d in result.drafts)


def test_watchers_are_flagged_and_given_a_timeout() -> None:
    result = imported("watchers")
    steps = result.runbook["phases"][0]["steps"]
    timed = {s["name"]: s.get("timeout") for s in steps}
    assert timed == {
        "Deploy: Roll out": None,
        "Follow the logs": "5m",
        "Watch the pods": "5m",
        "Tail the log file": "5m",
    }
    assert [n.line for n in result.not_understood if n.kind == "watcher"] == [10, 13, 16]


def test_trailing_comments_stay_with_the_step_they_follow() -> None:
    steps = imported("trailing-comments").runbook["phases"][0]["steps"]
    assert [(s["name"], s.get("description")) for s in steps] == [
        ("Switch to green", "Should print: active=green"),
        ("Switch traffic: Verify", "Expect X-Color: green"),
    ]


def test_inline_markdown_is_plain_text_in_the_plan() -> None:
    shown = plan(book_of("inline-markup"))
    gate = shown["steps"][0]
    text = " ".join(gate["actions"])
    assert "Product owner approved the v2 release" in text
    assert "the milestone" in text
    for markup in ("**", "`", "]("):
        assert markup not in text
    assert shown["steps"][1]["name"] == "Publish the site"


def test_a_whole_rollback_runbook_is_taken_apart() -> None:
    assert sections("rollback-runbook") == {
        "Rollback": "rollback 'rollback'",
        "When to roll back": "note 'When to roll back'",
        "Method 1: Argo rollback": "procedure 'Rollback: Method 1: Argo rollback'",
        "Method 2: kubectl": "procedure 'Rollback: Method 2: kubectl'",
        "Rollback is slow": "procedure 'Rollback is slow'",
        "Monthly rollback drill (staging)": "procedure 'Monthly rollback drill (staging)'",
        "Before next deployment": "phase 'Before next deployment'",
        "Quick reference": "note 'Quick reference'",
        "Deploy": "phase 'Deploy'",
    }
    book = book_of("rollback-runbook")
    assert list(book.environments) == ["production"]
    assert [s.name for s in book.rollback] == ["choose one: rollback"]
    assert [p.name for p in book.phases] == ["Before next deployment", "Deploy"]


def test_what_is_not_understood_is_listed_with_its_line() -> None:
    result = imported("not-understood")
    dropped = [(n.line, n.kind) for n in result.not_understood if n.kept is None]
    assert dropped == [
        (10, "code block (python)"),
        (14, "code block (sql)"),
        (19, "comments without a command"),
    ]


def test_annotated_blocks_execute_and_a_typo_is_refused_at_its_column() -> None:
    book = book_of("annotated")
    backup, settle = book.phases[0].steps
    assert (backup.manual, backup.idempotent, backup.timeout) == (False, True, 600)
    assert settle.kind == "wait"
    broken = text_of("annotated").replace("{name=release timeout=2m}", "{name=release tiemout=2m}")
    with pytest.raises(RunbookError) as caught:
        load_text(broken, "annotated.md", step_kinds(), parse_markdown)
    line = broken.split("\n")[caught.value.line - 1]
    assert line[caught.value.column - 1 :].startswith("tiemout")


def test_imported_commands_fill_in_the_version_and_keep_other_braces_literal() -> None:
    shown = plan(book_of("alternatives"), version="v2")
    assert "$ docker build -t payments:v2 ." in shown["steps"][0]["actions"]
    assert not any("appears in no step" in n for n in shown["notes"])
    text = (
        "# T\n\n## Go\n\n```bash\n# Odd braces\n"
        "echo ${{ github.sha }} ${#list[@]} '{% endraw %}{{ 7*7 }}' {{ environment }}\n```\n"
    )
    book = load_text(text, "t.md", step_kinds(), parse_markdown)
    line = plan(book)["steps"][0]["actions"][1]
    assert line == "$ echo ${{ github.sha }} ${#list[@]} '{% endraw %}{{ 7*7 }}' production"


def test_a_version_no_step_uses_is_a_plan_note() -> None:
    book = book_of("front-matter")
    assert not any("appears in no step" in n for n in plan(book, version="v9.9.9")["notes"])
    text = "# T\n\n## Tag\n\n```bash\n# Tag\ngit tag -a v1.2.3\n```\n"
    fixed = load_text(text, "t.md", step_kinds(), parse_markdown)
    notes = plan(fixed, version="v9.9.9")["notes"]
    assert any("the version v9.9.9 appears in no step" in n for n in notes)


def test_prose_alternatives_and_degrees_of_rollback_are_a_choice_never_a_sequence() -> None:
    book = book_of("prose-alternatives")
    # "Via GitHub Actions:" then "Or via kubectl:": two alternatives, not a double rollback
    assert [s.name for s in book.rollback] == ["choose one: rollback"]
    assert sorted(book.procedures) == [
        "Rollback: Full Rollback",
        "Rollback: Immediate Rollback",
        "Rollback: Or via kubectl",
        "Rollback: Via GitHub Actions",
    ]
    assert "gh workflow run" in book.procedures["Rollback: Via GitHub Actions"][0].params["command"]
    full = [s.params["command"] for s in book.procedures["Rollback: Full Rollback"]]
    assert any("DROP TABLE" in c for c in full)  # never part of the rollback sequence
    assert not any("DROP TABLE" in str(s.params) for s in book.rollback)
    # nothing dropped: each of the five code blocks is a step somewhere
    steps = list(book.rollback) + [s for p in book.procedures.values() for s in p]
    assert sum(1 for s in steps if s.kind == "run") == 5


def test_each_environments_rollback_holds_only_what_applies_to_it() -> None:
    result = imported("per-environment-rollback")
    book = book_of("per-environment-rollback")
    assert list(book.environments) == ["development", "staging", "production"]
    rollbacks = {env: names(plan(book, env)["rollback"]) for env in book.environments}
    shared = ["Tell the team", "Clear the build cache"]
    assert rollbacks == {
        "development": shared,
        "staging": ["Undo the staging rollout", *shared],
        "production": ["Undo the production rollout", "Run the rollback workflow", *shared],
    }
    flagged = [(n.line, n.kept) for n in result.not_understood if n.kind == "names an environment"]
    assert [line for line, _ in flagged] == [27, 30, 33]
    assert "runs in production only" in str(flagged[0][1])
    # nothing dropped: the five commands of the rollback block are five rollback steps
    assert len(book.rollback) == 5


def test_conditional_items_are_procedures_behind_a_gate_that_asks() -> None:
    book = book_of("conditional-items")
    assert [s.name for s in book.rollback] == [
        "Switch traffic back",
        "if needed: Rollback: Restore the database (if needed)",
        "if needed: Rollback: Stop the report workers (if still running)",
        "Tell the team",
    ]
    assert [s.kind for s in book.rollback] == ["run", "gate", "gate", "run"]
    restore = book.procedures["Rollback: Restore the database (if needed)"]
    stop = book.procedures["Rollback: Stop the report workers (if still running)"]
    assert "pg_restore --clean" in restore[0].params["command"]
    assert "pkill -f" in stop[0].params["command"]
    rollback_text = " ".join(str(s.params) for s in book.rollback)
    assert "pg_restore" not in rollback_text
    assert "pkill" not in rollback_text
    # nothing dropped: four items, four code blocks, each a step somewhere
    assert len([s for s in book.rollback if s.kind == "run"]) + len(restore) + len(stop) == 4


def test_pasted_output_is_no_command_and_a_note_names_no_step() -> None:
    result = imported("pasted-output-and-notes")
    steps = result.runbook["phases"][0]["steps"]
    assert [s["name"] for s in steps] == [
        "Deploy: Deploy",
        "Deploy: Check health",
        "Contract the schema",  # named by its heading, not by the NOTE: comment above it
    ]
    assert steps[1]["description"] == (
        'Expected response:\n{"status": "healthy", "version": "2.3.1"}'
    )
    assert steps[2]["description"] == "NOTE: only after every instance runs the new version"
    outputs = [(n.line, n.kind) for n in result.not_understood if n.kind == "example output"]
    assert outputs == [(12, "example output")]
    markdown = load_text(
        text_of("pasted-output-and-notes"), "notes.md", step_kinds(), parse_markdown
    )
    flagged = [f for f in lint(markdown) if f.rule == "destructive"]
    assert [(f.line, "ALTER TABLE ... DROP" in f.message) for f in flagged] == [(20, True)]
