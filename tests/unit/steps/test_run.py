"""``run``: real bash commands with quoted values, streamed output, exit codes, timeouts that
stop the whole process group, and retries with backoff on the run's clock."""

from __future__ import annotations

import time
from pathlib import Path

from tests.unit.steps.conftest import App, Harness

from runwright.steps.registry import params_as
from runwright.steps.run import KIND


async def test_output_is_streamed_line_by_line_and_summarised(harness: Harness) -> None:
    ctx = harness.context("run", "echo one; echo two >&2; printf three")
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert harness.lines == ["one", "two", "three"]
    assert outcome.summary == "exit 0: three"
    assert outcome.data == {"exit_code": 0}


async def test_templated_values_stay_one_word(harness: Harness, tmp_path: Path) -> None:
    target = tmp_path / "args"
    ctx = harness.context(
        "run",
        f"printf '%s\\n' {{{{ version }}}} > {target}",
        variables={"version": "1.2; touch " + str(tmp_path / "pwned")},
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert target.read_text() == f"1.2; touch {tmp_path / 'pwned'}\n"
    assert not (tmp_path / "pwned").exists()


async def test_a_failing_command_reports_its_exit_code_and_last_line(harness: Harness) -> None:
    ctx = harness.context("run", "echo working; echo 'no space left' >&2; exit 4")
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert outcome.summary == "exit code 4: no space left"
    assert outcome.data == {"exit_code": 4}
    assert outcome.retryable


async def test_accepted_exit_codes(harness: Harness) -> None:
    ctx = harness.context("run", {"command": "exit 3", "accept_exit_codes": [0, 3]})
    assert (await KIND.execute(ctx, params_as(ctx.spec, KIND.params))).status == "succeeded"


async def test_a_multi_line_command_stops_at_its_first_failure(
    harness: Harness, tmp_path: Path
) -> None:
    ctx = harness.context("run", f"false\ntouch {tmp_path / 'after'}\n")
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert not (tmp_path / "after").exists()


async def test_env_cwd_and_run_identity_reach_the_process(harness: Harness, tmp_path: Path) -> None:
    ctx = harness.context(
        "run",
        {
            "command": 'echo "$GREETING $RUNWRIGHT_VERSION $RUNWRIGHT_STEP $(pwd)"',
            "env": {"GREETING": "hello {{ environment }}"},
            "cwd": str(tmp_path),
        },
        environ={"PATH": "/usr/bin:/bin", "INHERITED": "yes"},
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert harness.lines == [f"hello staging v1 the step {tmp_path}"]


async def test_a_missing_directory_fails_without_retry(harness: Harness, tmp_path: Path) -> None:
    ctx = harness.context("run", {"command": "true", "cwd": str(tmp_path / "nope")})
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert not outcome.retryable


def test_a_timeout_stops_the_whole_process_group(app: App) -> None:
    pidfile = app.dir / "pid"
    # Give the shell two real seconds (not the fixture's ten) to start the child the timeout
    # must also stop before fake time expires it.
    app.clock.deadline_grace = 2.0
    started = time.monotonic()
    run = app.deploy(
        f"""
        name: slow
        phases:
          - name: p
            steps:
              - name: hang
                timeout: 300ms
                run: |
                  echo $$ > {pidfile}
                  sleep 30 &
                  wait
        """
    )
    assert time.monotonic() - started < 10
    assert run.status == "rolled_back"
    assert run.failure == "step 'hang' failed: timed out after 0.3s"
    assert live_members(int(pidfile.read_text())) == []


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies awaiting reaping excluded)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_retries_back_off_exponentially_on_the_run_clock(app: App) -> None:
    counter = app.dir / "count"
    started = time.monotonic()
    run = app.deploy(
        f"""
        name: flaky
        phases:
          - name: p
            steps:
              - name: flaky
                retries: 3
                backoff: 10s
                run: |
                  echo x >> {counter}
                  [ "$(wc -l < {counter})" -ge 3 ]
        """
    )
    assert run.status == "succeeded", run.failure
    assert time.monotonic() - started < 5
    retries = app.events(run.id, "step.retry")
    assert [(e[2]["attempt"], e[2]["delay_seconds"]) for e in retries] == [(1, 10.0), (2, 20.0)]
    assert all(e[2]["error"] == "exit code 1" for e in retries)
    assert app.clock.monotonic() == 30.0
    step = app.rt.store.steps(run.id)[0]
    assert step.attempts == 3
    assert [e[0] for e in app.events(run.id, "step.")] == [
        "step.started",
        "step.retry",
        "step.started",
        "step.retry",
        "step.started",
        "step.succeeded",
    ]


def test_retries_run_out_and_the_run_rolls_back(app: App) -> None:
    run = app.deploy(
        """
        name: broken
        phases:
          - name: p
            steps:
              - name: broken
                retries: 2
                backoff: 1s
                run: exit 9
        """
    )
    assert run.status == "rolled_back"
    assert run.failure == "step 'broken' failed: exit code 9"
    assert app.rt.store.steps(run.id)[0].attempts == 3
    assert app.clock.monotonic() == 3.0


def test_an_input_error_is_not_retried(app: App) -> None:
    run = app.deploy(
        """
        name: typo
        phases:
          - name: p
            steps:
              - name: typo
                retries: 5
                run: echo {{ verison }}
        """
    )
    assert run.status == "rolled_back"
    assert "undefined variable in template: 'verison' is undefined" in (run.failure or "")
    assert app.events(run.id, "step.retry") == []
