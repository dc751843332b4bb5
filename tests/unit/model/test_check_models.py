"""Checks are read once, when the runbook loads, into their provider's model: a misspelled or
misplaced key is refused at its line with the keys the provider takes, and a run measures the
very definitions it stored when it was planned."""

from __future__ import annotations

import glob
import re
from textwrap import dedent, indent

import pytest
from tests.unit.steps.conftest import App, app

from runwright.app.reads.schema import json_schema
from runwright.app.runtime.runtime import read_runbook, read_runbook_text
from runwright.engine.sequential import parse_sequential
from runwright.errors import InputError, RunbookError
from runwright.model.checks import (
    CloudWatchCheck,
    CommandCheck,
    PrometheusCheck,
    RouterCheck,
    check_from,
    stored,
)
from runwright.model.importer import dump_yaml, import_markdown
from runwright.model.status import RunStatus

__all__ = ["app"]


def refused(checks: str) -> RunbookError:
    text = "name: shop\nchecks:\n" + indent(dedent(checks), "  ") + "phases: []\n"
    with pytest.raises(RunbookError) as caught:
        read_runbook_text(text, "rb.yaml")
    return caught.value


def test_a_misspelled_key_is_refused_at_its_line_with_the_spelling_and_the_known_keys() -> None:
    exc = refused("""\
      error-rate:
        provider: prometheus
        url: http://127.0.0.1:9090
        query: rate(errors[1m])
        fial_if: "> 1%"
    """)
    text = str(exc)
    assert text.startswith("rb.yaml:7:5: check 'error-rate': unknown key 'fial_if'")
    assert "did you mean 'fail_if'?" in text
    assert "prometheus checks take: " in text
    assert "aggregate" in text


def test_a_setting_of_another_provider_is_refused_naming_the_provider_it_belongs_to() -> None:
    exc = refused("""\
      error-rate:
        provider: scrape
        url: http://127.0.0.1:9/metrics
        query: errors_total
        fail_if: "> 1"
        aggregate: sum
    """)
    assert str(exc).startswith("rb.yaml:8:5: check 'error-rate': unknown key 'aggregate'")
    assert "'aggregate' applies to provider prometheus, not scrape" in str(exc)
    exc = refused("""\
      probe:
        provider: command
        query: ./errors.sh
        pass_if: "< 1"
        url: http://127.0.0.1:9
    """)
    assert "rb.yaml:7:5: check 'probe': unknown key 'url'" in str(exc)
    assert "applies to provider scrape or prometheus or http, not command" in str(exc)


def test_an_unreadable_setting_or_provider_is_refused_at_its_own_line() -> None:
    exc = refused("""\
      error-rate:
        provider: command
        query: ./errors.sh
        fail_if: "> 1"
        failure_limit: two
    """)
    assert str(exc).startswith(
        "rb.yaml:7:20: check 'error-rate': failure_limit must be a whole number, got 'two'"
    )
    exc = refused("""\
      error-rate:
        provider: graphite
        query: errors
        fail_if: "> 1"
    """)
    assert str(exc).startswith("rb.yaml:4:15: check 'error-rate': unknown provider 'graphite'")
    assert "use one of scrape, router, prometheus, http, command, cloudwatch" in str(exc)
    exc = refused("""\
      errors: {provider: scrape, method: sequential, url: "http://x/metrics"}
    """)
    assert "check 'errors': method sequential needs provider: router" in str(exc)


def test_each_provider_gets_its_own_model_and_a_check_without_provider_is_prometheus() -> None:
    book = read_runbook("examples/aws-bluegreen.yaml")
    (alarm,) = book.checks.values()
    assert isinstance(alarm, CloudWatchCheck)
    assert alarm.alarm
    drafted = check_from("d", {"draft": True, "line": 12, "also_at": [30], "fail_if": "> 1%"})
    assert isinstance(drafted, PrometheusCheck)
    assert drafted.also_at == [30]
    sequential = check_from("s", {"provider": "router", "method": "sequential", "alpha": 0.02})
    assert isinstance(sequential, RouterCheck)
    assert sequential.alpha == 0.02
    whole = check_from("s", sequential.model_dump(mode="json", by_alias=True))
    assert parse_sequential("s", whole) == parse_sequential("s", sequential)
    with pytest.raises(InputError, match="unknown key 'fial_if'"):
        check_from("c", {"provider": "command", "query": "x", "fial_if": "> 1"})


def test_the_examples_and_the_imported_seeds_still_load() -> None:
    for path in glob.glob("examples/*.yaml") + glob.glob("examples/*.md"):
        read_runbook(path)
    seeds = sorted(glob.glob("/work/shared/seeds/*.txt")) or pytest.fail("no seeds")
    drafts = 0
    for path in seeds:
        with open(path, encoding="utf-8") as f:
            result = import_markdown(f.read(), path)
        book = read_runbook_text(dump_yaml(result.runbook), "imported.yaml")
        drafts += sum(c.draft for c in book.checks.values())
    assert drafts > 0


def test_the_published_schema_gives_each_provider_its_own_keys() -> None:
    variants = json_schema()["properties"]["checks"]["additionalProperties"]["oneOf"]
    defs = json_schema()["$defs"]
    models = {
        ref["$ref"].rsplit("/", 1)[-1]: defs[ref["$ref"].rsplit("/", 1)[-1]] for ref in variants
    }
    assert set(models) == {
        "ScrapeCheck", "RouterCheck", "PrometheusCheck", "HttpCheck", "CommandCheck",
        "CloudWatchCheck",
    }  # fmt: skip
    assert all(m["additionalProperties"] is False for m in models.values())
    assert [n for n, m in models.items() if "aggregate" in m["properties"]] == ["PrometheusCheck"]
    interval = models["ScrapeCheck"]["properties"]["interval"]["anyOf"]
    written = next(form for form in interval if form.get("type") == "string")
    assert re.match(written["pattern"], "1h30m")
    assert not re.match(written["pattern"], "5 parsecs")


def test_a_check_round_trips_through_a_stored_run(app: App) -> None:
    text = """
        name: shop
        checks:
          errors:
            provider: command
            query: echo 0.02
            fail_if: "> 1%"
            interval: 10s
            for: 20s
            timeout: 5s
        phases:
          - name: watch
            steps:
              - analysis: {checks: [errors], duration: 1m}
    """
    run = app.deploy(text)
    assert run.status == RunStatus.ROLLED_BACK
    (step,) = app.rt.store.steps(run.id)
    kept = step.spec["checks"]["errors"]
    assert kept == {
        "provider": "command", "query": "echo 0.02", "fail_if": "> 1%", "interval": 10.0,
        "for": 20.0, "timeout": 5.0,
    }  # fmt: skip
    book = read_runbook(app.dir / "runbook.yaml")
    assert check_from("errors", kept) == book.checks["errors"]
    assert stored(check_from("errors", kept)) == kept
    assert isinstance(book.checks["errors"], CommandCheck)
    assert step.summary == "errors was 0.02, 0.02, 0.02 (> 0.01) for 20s"


def test_a_check_naming_no_interval_timeout_or_error_limit_gets_the_documented_defaults() -> None:
    written = {"provider": "command", "query": "echo 1", "fail_if": "> 1"}
    plain = check_from("errors", written)
    assert (plain.interval_seconds, plain.timeout_seconds, plain.error_limit) == (60.0, 10.0, 3)
    assert stored(plain) == written
    fast = check_from("errors", {**written, "interval": 2, "consecutive_error_limit": 0})
    assert (fast.interval_seconds, fast.timeout_seconds, fast.error_limit) == (2.0, 2.0, 0)
    assert check_from("errors", {**written, "interval": 0.2}).timeout_seconds == 1.0
    assert check_from("errors", {**written, "timeout": "30s"}).timeout_seconds == 30.0
