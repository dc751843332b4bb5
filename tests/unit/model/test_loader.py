"""The runbook loader: what a valid runbook becomes, and the ``file:line:col`` message with a
hint that every kind of mistake produces."""

from __future__ import annotations

import hashlib
from pathlib import Path
from textwrap import dedent

import pytest

from runwright.errors import RunbookError
from runwright.model.loader import Runbook, load_runbook, load_text
from runwright.steps.registry import step_kinds

KINDS = step_kinds()


def load(text: str, file: str = "rb.yaml") -> Runbook:
    return load_text(dedent(text).lstrip("\n"), file, KINDS)


def error(text: str) -> RunbookError:
    with pytest.raises(RunbookError) as caught:
        load(text)
    return caught.value


GOOD = """
    name: shop
    vars: {port: 8080}
    secrets:
      TOKEN: {env: SHOP_TOKEN}
    environments:
      staging: {}
      production:
        requires: staging
        approvals: {required: 2, expires: 4h}
    phases:
      - name: build
        steps:
          - run: make build
            timeout: 5m
            retries: 2
            backoff: 500ms
            undo: make clean
      - name: release
        steps:
          - name: health
            http: http://127.0.0.1:8080/health
            idempotent: true
          - name: soak
            wait: 90s
            undo: {run: echo undo soak, timeout: 10s}
    rollback:
      - run: echo rolled back
"""


def test_a_valid_runbook_resolves_every_step() -> None:
    book = load(GOOD)
    assert book.name == "shop"
    assert book.file == "rb.yaml"
    assert book.digest == hashlib.sha256(dedent(GOOD).lstrip("\n").encode()).hexdigest()
    assert [(phase, s.name, s.kind) for phase, s in book.steps()] == [
        ("build", "build step 1", "run"),
        ("release", "health", "http"),
        ("release", "soak", "wait"),
    ]
    build, health, soak = (s for _, s in book.steps())
    assert (build.timeout, build.retries, build.backoff) == (300.0, 2, 0.5)
    assert build.params["command"] == "make build"
    assert build.line == 13
    assert health.idempotent
    assert health.params["url"] == "http://127.0.0.1:8080/health"
    assert soak.params["duration"] == 90.0
    assert [s.name for s in book.rollback] == ["rollback step 1"]
    assert book.environments["production"].approvals is not None
    assert book.environments["production"].approvals.expires == 4 * 3600


def test_undo_becomes_a_step_of_its_own() -> None:
    book = load(GOOD)
    build, _, soak = (s for _, s in book.steps())
    assert build.undo_step is not None
    assert (build.undo_step.name, build.undo_step.kind) == ("undo build step 1", "run")
    assert build.undo_step.params["command"] == "make clean"
    assert soak.undo_step is not None
    assert soak.undo_step.timeout == 10.0


def test_load_runbook_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(dedent(GOOD))
    assert load_runbook(path, KINDS).file == str(path)


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"),
    [
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - run: echo hi
                    tiemout: 30s
            """,
            (6, 9),
            "unknown key 'tiemout'",
            "did you mean 'timeout'?",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                timeout: 30s
                steps:
                  - run: echo hi
            """,
            (4, 5),
            "unknown key 'timeout'",
            "'timeout' is not a key at this level: check the indentation",
        ),
        (
            """
            name: shop
            enviroments: {}
            """,
            (2, 1),
            "unknown key 'enviroments'",
            "did you mean 'environments'?",
        ),
        (
            """
            name: shop
            environments:
              prod:
                aprovals: {required: 2}
            """,
            (4, 5),
            "unknown key 'aprovals'",
            "did you mean 'approvals'?",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - http:
                      url: http://127.0.0.1/
                      expcet: {status: 200}
            """,
            (7, 11),
            "unknown key 'expcet'",
            "did you mean 'expect'?",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - rn: echo hi
            """,
            (5, 9),
            "unknown key 'rn'",
            "did you mean 'run'?",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - name: nothing
            """,
            (5, 9),
            "step has no action",
            "add one of: analysis, approval",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - run: echo
                    wait: 5s
            """,
            (6, 9),
            "step has several actions (run, wait)",
            "split it into separate steps",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - {name: x, run: echo}
                  - {name: x, run: echo}
            """,
            (6, 9),
            "two steps are named 'x'",
            "first one is at line 5",
        ),
        (
            """
            name: shop
            secrets:
              TOKEN: {description: no source}
            """,
            (3, 10),
            "secret 'TOKEN' needs exactly one of 'env' or 'file'",
            "TOKEN: {env: TOKEN}",
        ),
        (
            """
            name: shop
            environments:
              prod: {requires: stage}
            """,
            (3, 20),
            "environment 'prod' requires unknown environment 'stage'",
            "declared environments: prod",
        ),
        (
            """
            name: shop
            name: again
            """,
            (2, 1),
            "duplicate key 'name' (first at line 1)",
            "YAML would silently keep only the last",
        ),
        (
            """
            phases: []
            """,
            (1, 1),
            "missing required key 'name'",
            "add 'name:' here",
        ),
    ],
    ids=[
        "step-key",
        "key-out-of-place",
        "top-key",
        "environment-key",
        "kind-param",
        "unknown-action",
        "no-action",
        "two-actions",
        "duplicate-step-name",
        "secret-source",
        "unknown-requires",
        "duplicate-yaml-key",
        "missing-name",
    ],
)
def test_mistakes_are_located_and_explained(
    text: str, where: tuple[int, int], message: str, hint: str
) -> None:
    err = error(text)
    assert (err.line, err.column) == where
    assert message in err.message
    assert err.hint is not None
    assert hint in err.hint
    assert str(err).startswith(f"rb.yaml:{where[0]}:{where[1]}: ")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - run: echo
                    retries: many
            """,
            (6, 18),
            "phases.0.steps.0.retries: Input should be a valid integer, unable to parse "
            "string as an integer (got 'many')",
        ),
        (
            """
            name: shop
            phases:
              - name: p
                steps:
                  - run: echo
                    timeout: 5 parsecs
            """,
            (6, 18),
            "unknown unit 'parsecs' in duration '5 parsecs'",
        ),
        (
            """
            name: shop
            environments:
              prod:
                approvals: {required: 0}
            """,
            (4, 27),
            "environments.prod.approvals.required: Input should be greater than or equal to 1",
        ),
        (
            """
            name: shop
            environments:
              prod:
                windows: [{days: [funday]}]
            """,
            (4, 22),
            "unknown day 'funday'",
        ),
        (
            """
            name: "!shop"
            """,
            (1, 7),
            "name: use letters, digits",
        ),
    ],
    ids=["integer", "duration", "range", "weekday", "name"],
)
def test_wrong_values_are_located(text: str, where: tuple[int, int], message: str) -> None:
    err = error(text)
    assert (err.line, err.column) == where
    assert message in err.message


def test_yaml_syntax_errors_point_at_the_line() -> None:
    err = error(
        """
        name: shop
        phases:
          - name: "unclosed
            steps: []
        """
    )
    assert err.message.startswith("YAML syntax error")
    assert err.line is not None
    assert err.line >= 3
    assert err.hint == "check indentation and quoting around this spot"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the runbook is empty"), ("- a\n- b\n", "a runbook must be a mapping")],
)
def test_empty_or_list_documents_are_refused(text: str, message: str) -> None:
    with pytest.raises(RunbookError, match=message) as caught:
        load_text(text, "rb.yaml", KINDS)
    assert caught.value.hint == "start with 'name: my-service'"


def test_several_mistakes_are_reported_together_each_with_its_own_hint() -> None:
    err = error(
        """
        name: shop
        phases:
          - name: p
            steps:
              - run: echo
                tiemout: 1s
              - run: echo
                retires: 2
        """
    )
    assert str(err).splitlines() == [
        "rb.yaml:6:9: unknown key 'tiemout' (did you mean 'timeout'?)",
        "rb.yaml:8:9: unknown key 'retires' (did you mean 'retries'?)",
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"name: \xff\xfe\n"), "not UTF-8 text"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_unreadable_files_are_runbook_errors(tmp_path: Path, setup: object, message: str) -> None:
    path = tmp_path / "rb.yaml"
    setup(path)  # type: ignore[operator]
    with pytest.raises(RunbookError, match=message) as caught:
        load_runbook(path, KINDS)
    assert caught.value.file == str(path)


def test_a_router_check_without_a_service_is_refused_at_its_provider_key() -> None:
    exc = error(
        """
        name: watch
        environments: {staging: {}}
        checks:
          errors:
            provider: router
            query: rate(router_errors_total) / rate(router_requests_total)
            fail_if: "> 1%"
        phases:
          - name: w
            steps:
              - wait: {duration: 2s, analysis: [errors]}
        """
    )
    assert str(exc).startswith("rb.yaml:5:15: check 'errors' reads the router")
    assert "declare service:" in str(exc)


def test_checks_that_could_never_be_measured_are_refused_at_load_each_at_its_place() -> None:
    from runwright.steps.analysis import validate_check

    text = """
        name: watch
        environments: {staging: {}}
        checks:
          scraped:
            provider: scrape
            url: http://127.0.0.1:9/metrics
            query: sum(rate(x{job="{{ version }}"}[5m]))
            fail_if: "> 1%"
          both:
            provider: command
            query: echo 1
            fail_if: "> 1"
            for: 1m
            failure_limit: 2
          drafted:
            draft: true
            fail_if: "> 1%"
        phases:
          - name: w
            steps:
              - run: "true"
        """
    with pytest.raises(RunbookError) as caught:
        load_text(dedent(text).lstrip("\n"), "rb.yaml", KINDS, check_rules=validate_check)
    message = str(caught.value)
    assert (
        "rb.yaml:5:5: check 'scraped': scrape query 'sum(rate(x{job=\"{{ version }}\"}" in message
    )
    assert "function sum() is not supported" in message
    assert "rb.yaml:10:5: check 'both': give either 'for'" in message
    assert "drafted" not in message
