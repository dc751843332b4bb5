"""A value never becomes shell code: 60 hostile values through the API, ``--var`` and a
runbook's own ``vars``, in every place a template can sit in a command.

Where a shell-quoted value is one word (bare, inside ``$( )``) the command runs and receives
the value as inert text, byte for byte; inside double or single quotes, backticks, a heredoc
or ``${...}`` the runbook is refused when it loads (exit 2, HTTP 4xx) at the expression's
line and column, with the fix. No marker file is ever created.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import RunCli
from tests.support.web import WebServer, web_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("shell_templates")]


def payloads(m: Path) -> list[str]:
    """60 values that would run ``touch MARKER`` (or worse) if spliced in as code."""
    values = [
        f"$(touch {m})", f"`touch {m}`", f"; touch {m}", f"&& touch {m}", f"|| touch {m}",
        f"| touch {m}", f"\ntouch {m}", f"\r\ntouch {m}", f"'; touch {m}; '", f'"; touch {m}; "',
        f'"$(touch {m})"', f"'$(touch {m})'", f"${{IFS}}touch${{IFS}}{m}", f"& touch {m}",
        f"\\'; touch {m} #", f'\\"; touch {m} #', f"a # $(touch {m})", f"<(touch {m})",
        f">(touch {m})", f"> {m}", f">> {m}", f"$'\\x74ouch' {m}", f"'\"`touch {m}`\"'",
        f"x'\ntouch {m}\n'", f"EOF\ntouch {m}\nEOF", f"}}; touch {m}; {{", f"$(touch {m}))",
        f"\\`touch {m}\\`", f"'\\''; touch {m}; '\\''", f"\"'$(touch {m})'\"",
        "*", "?", "[a-z]*", "~", "~root", "$HOME", "${HOME}", "$RUNWRIGHT_RUN_ID", "$((1+1))",
        "!!", "{a,b}", "-n", "--help", "-e \\x41", "%s%s%n", "a b  c", "\t", " lead",
        "trail ", "", "'", '"', "\\", "`", "$", "$(", "ünïcødé ✓", "\x1b[31mred", "{{ 7*7 }}",
        "{% raw %}",
    ]  # fmt: skip
    assert len(values) == 60
    return values


SAFE_STEPS = """\
      - name: bare {i}
        run: printf '%s' {{{{ p{i} }}}} > {{{{ out }}}}/bare-{i}
      - name: substituted {i}
        run: printf '%s' "$(printf '%s|' {{{{ p{i} }}}})" > {{{{ out }}}}/sub-{i}
"""

QUOTED = {
    "double quotes": 'echo "site: {{ site }}" > /dev/null',
    "single quotes": "echo 'site: {{ site }}' > /dev/null",
    "backticks": "echo `echo {{ site }}` > /dev/null",
    "a heredoc": "cat > /dev/null <<END\n  {{ site }}\n  END",
    "${...}": "echo ${UNSET:-{{ site }}} > /dev/null",
}


def safe_book(out: Path, values: list[str] | None) -> str:
    steps = "".join(SAFE_STEPS.format(i=i) for i in range(60))
    own = {f"p{i}": v for i, v in enumerate(values)} if values is not None else {}
    head = yaml.safe_dump({"name": "safe", "vars": {"out": str(out), **own}})
    return f"{head}environments:\n  staging: {{}}\nphases:\n  - name: all\n    steps:\n{steps}"


def quoted_book(name: str, command: str, site: str | None) -> str:
    block = "\n".join("          " + line for line in command.split("\n"))
    variables = yaml.safe_dump({"vars": {"site": site}}) if site is not None else ""
    return (
        f"name: {name}\n{variables}environments:\n  staging: {{}}\nphases:\n  - name: all\n"
        f"    steps:\n      - name: the step\n        run: |\n{block}\n"
    )


def position(text: str) -> tuple[int, int]:
    for n, line in enumerate(text.split("\n"), 1):
        if "{{ site }}" in line:
            return n, line.index("{{ site }}") + 1
    raise AssertionError("no template in the book")


def received(out: Path, values: list[str], marker: Path) -> None:
    """Each value arrived whole and inert in both safe places; the marker was never made."""
    assert not marker.exists(), "a value ran as shell code"
    for i, value in enumerate(values):
        assert (out / f"bare-{i}").read_bytes().decode() == value, f"payload {i} {value!r}"
        assert (out / f"sub-{i}").read_bytes().decode() == value + "|", f"payload {i} {value!r}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, WebServer]]:
    root = tmp_path_factory.mktemp("shell-templates")
    books = root / "books"
    books.mkdir()
    (root / "api-out").mkdir()
    (books / "safe.yaml").write_text(safe_book(root / "api-out", None))
    for n, command in enumerate(QUOTED.values()):
        (books / f"quoted{n}.yaml").write_text(quoted_book(f"quoted{n}", command, None))
    state = root / "state"
    state.mkdir()
    with web_server(state, books) as web:
        web.add_user("dee", "deployer")
        yield root, web


def test_the_api_passes_values_as_inert_words(lab: tuple[Path, WebServer]) -> None:
    root, web = lab
    marker = root / "api-marker"
    values = payloads(marker)
    with web.client(web.token("dee")) as c:
        given = {f"p{i}": v for i, v in enumerate(values)}
        body = {"runbook": "safe", "environment": "staging", "version": "v1", "vars": given}
        r = c.post("/api/v1/runs", json=body)
        assert r.status_code == 202, r.text
        run = r.json()["run"]
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline and status != "succeeded":
            status = c.get(f"/api/v1/runs/{run}").json()["status"]
            time.sleep(0.1)
        assert status == "succeeded"
    received(root / "api-out", values, marker)


def test_the_api_cannot_start_a_runbook_with_a_template_in_quotes(
    lab: tuple[Path, WebServer],
) -> None:
    root, web = lab
    marker = root / "api-quoted-marker"
    with web.client(web.token("dee")) as c:
        listed = {e["name"] or e["file"]: e for e in c.get("/api/v1/runbooks").json()}
        for n, context in enumerate(QUOTED):
            entry = next(e for e in listed.values() if e["file"].endswith(f"quoted{n}.yaml"))
            text = Path(entry["file"]).read_text()
            line, col = position(text)
            assert (
                f"quoted{n}.yaml:{line}:{col}: {{{{ site }}}} is inside {context}"
                in (entry["error"])
            )
            assert 'env: {NAME: "{{ value }}"}' in entry["error"]
            hostile = {"site": f"$(touch {marker})"}
            r = c.post(
                "/api/v1/runs", json={"runbook": f"quoted{n}", "version": "v1", "vars": hostile}
            )
            assert 400 <= r.status_code < 500, r.text
    assert not marker.exists()


def test_cli_vars_and_runbook_vars_are_inert_words(tmp_path: Path, run_cli: RunCli) -> None:
    marker = tmp_path / "marker"
    values = payloads(marker)
    for channel in ("cli", "book"):
        out = tmp_path / f"{channel}-out"
        out.mkdir()
        book = tmp_path / f"{channel}.yaml"
        book.write_text(safe_book(out, values if channel == "book" else None))
        given = [] if channel == "book" else [f"--var=p{i}={v}" for i, v in enumerate(values)]
        done = run_cli("deploy", str(book), "-e", "staging", "--version", "v1", *given)
        assert done.returncode == 0, done.stdout + done.stderr
        received(out, values, marker)


@pytest.mark.parametrize("context", list(QUOTED))
def test_a_template_in_quotes_is_refused_at_load(
    context: str, tmp_path: Path, run_cli: RunCli
) -> None:
    marker = tmp_path / "marker"
    value = payloads(marker)[list(QUOTED).index(context)]
    given = tmp_path / "given.yaml"
    own = tmp_path / "own.yaml"
    given.write_text(quoted_book("given", QUOTED[context], None))
    own.write_text(quoted_book("own", QUOTED[context], value))
    runs = (
        (given, ("deploy", str(given), "--version", "v1", "--var", f"site={value}")),
        (own, ("deploy", str(own), "--version", "v1")),
        (given, ("lint", str(given))),
    )
    for book, args in runs:
        line, col = position(book.read_text())
        done = run_cli(*args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{book}:{line}:{col}: {{{{ site }}}} is inside {context}" in done.stderr
        assert '"$NAME" in the command' in done.stderr
    assert not marker.exists()
