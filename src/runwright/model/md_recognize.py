"""What an imported shell command does, read from a table: the step that does the same thing.

A runbook's ``curl -f https://api/health`` is a health check, ``kubectl rollout status`` a
readiness wait, ``pg_dump`` a backup nobody verifies, ``alembic upgrade head`` a migration
with no way back, a ``curl`` to a Slack webhook a notification. ``runwright import`` (with
``--automate``, its default) proposes, for each command, the step kind that does it with the
checks runwright adds (expected status, verification of the backup, a deadline on the wait),
and keeps the command as written beside it (``original``) for the person who reviews it.

Each row of ``TABLE`` names a kind of command, the pattern that recognises it and the function
that builds the proposed step from it; the first row that builds a step wins, so the order is
part of the data. A builder that cannot read the command returns None and the next row is
tried. A command no row recognises becomes a ``run`` step executing it as written; one that
cannot run unattended (an interactive shell, a placeholder such as ``<backup-file>``, a
watcher) stays a manual step. Nothing is guessed: ``tests/unit/model/test_md_recognize.py``
tests every row.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runwright.model.md_fences import is_watcher

Step = dict[str, Any]
Builder = Callable[[str, list[str]], Step | None]

DATABASE_SECRET = "DATABASE_URL"
SLACK_SECRET = "SLACK_WEBHOOK_URL"
RUN_AS_WRITTEN = "run as written"
_HEALTHY = re.compile(r"health|ready|readiness|live|status|ping|version|/$", re.I)
_URL = re.compile(r"^https?://[^\s$`]+$")
_PLACEHOLDER = re.compile(
    r"<[A-Za-z][\w .-]{0,60}>|\byour[-_]?[-\w]{0,30}?(?:domain|org|company|app|host|server|bucket"
    r"|project)\b"
    r"|\byour[-_][\w-]+|\bYOUR_[A-Z_]+|\bxxx+\b|\.\.\.(?!\w)|\bREPLACE_?ME\b"
)
_NOT_SHELL = re.compile(
    r"(?:SELECT|INSERT|UPDATE|DELETE|ALTER|CREATE|DROP|TRUNCATE|GRANT|REVOKE|BEGIN|COMMIT"
    r"|EXPLAIN|VACUUM)\b|\\[a-z]+\b|(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+/"
)
_INTERACTIVE = re.compile(
    r"^(?:(?:sudo\s+)?(?:ssh\s+\S+|psql(?:\s+(?!.*(?:-c|--command|-f|<))[^|;&]*)?"
    r"|mysql(?:\s+(?!.*(?:-e|--execute|<))[^|;&]*)?"
    r"|redis-cli|bash|sh|zsh|vim?|nano|less|more|top|htop|docker\s+stats(?!.*--no-stream)"
    r"|python3?|node|irb|rails\s+c(?:onsole)?)\s*$"
    r"|.*\b(?:exec|run)\s+(?:-\w*i\w*t\w*|-\w*t\w*i\w*|-it|-ti)\b"
    r"|.*\bport-forward\b|.*\bgit\s+(?:commit|rebase\s+-i)\b(?!.*-m)|.*\bcrontab\s+-e\b"
    r"|.*\bkubectl\s+edit\b|.*\bread\s+-p\b)",
    re.S,
)


@dataclass(frozen=True)
class Row:
    """One kind of command: its label, the pattern that finds it, the step it becomes."""

    kind: str  # the step kind proposed: http, wait, backup, restore, migrate, notify, run
    label: str  # what the import says it recognised ("health check", "readiness wait"...)
    pattern: re.Pattern[str]
    build: Builder


@dataclass
class Proposal:
    """What an imported command becomes, and what the runbook must declare for it."""

    label: str
    step: Step
    secrets: dict[str, Step] = field(default_factory=dict)
    sinks: dict[str, Step] = field(default_factory=dict)
    note: str = ""  # said to the reviewer (what the step implies, e.g. a service driver)
    service: Step | None = None  # the ``service:`` a deploy command implies, when it can tell

    @property
    def manual(self) -> bool:
        return bool(self.step.get("manual"))


def _words(command: str) -> list[str] | None:
    """The command's words read as a shell would (continuations joined); None if unreadable."""
    try:
        return shlex.split(command.replace("\\\n", " "), comments=True)
    except ValueError:
        return None


def _pipeline(command: str) -> tuple[str, list[str]]:
    """The first command of a pipeline and the commands its output goes through."""
    parts = [p.strip() for p in re.split(r"(?<![|])\|(?![|])", command)]
    return parts[0], parts[1:]


# -- builders -------------------------------------------------------------------------------


def _curl_options(words: list[str]) -> tuple[str | None, dict[str, Any]] | None:
    """The URL and options of a ``curl`` call, or None for a form this table does not read."""
    url: str | None = None
    opts: dict[str, Any] = {"method": "GET", "headers": {}, "fail": False}
    i = 1
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word in ("-X", "--request"):
            opts["method"], i = value.upper(), i + 2
            continue
        if word in ("-H", "--header"):
            key, _, val = value.partition(":")
            opts["headers"][key.strip()] = val.strip()
            i += 2
            continue
        if word in ("-d", "--data", "--data-raw", "--data-binary", "--json"):
            opts["body"], i = value, i + 2
            if opts["method"] == "GET":
                opts["method"] = "POST"
            continue
        if word in ("-w", "--write-out", "-o", "--output", "-m", "--max-time", "-u", "--user"):
            if word in ("-u", "--user"):
                return None
            i += 2
            continue
        if word in ("-I", "--head"):
            opts["method"] = "HEAD"
        elif word in ("-k", "--insecure"):
            opts["insecure"] = True
        elif word == "--fail" or (
            word.startswith("-") and not word.startswith("--") and "f" in word
        ):
            opts["fail"] = True
        elif not word.startswith("-") and url is None:
            url = word
        i += 1
    return url, opts


def _expect(rest: list[str]) -> dict[str, Any] | None:
    """Expectations read from what a health ``curl``'s output is piped through."""
    expect: dict[str, Any] = {}
    for cmd in rest:
        words = _words(cmd) or []
        if not words:
            continue
        if words[0] == "jq" and all(w.startswith("-") or w == "." for w in words[1:]):
            continue
        if words[0] in ("grep", "egrep") and len(words) >= 2:
            needles = [w for w in words[1:] if not w.startswith("-")]
            if len(needles) != 1 or re.search(r"[\\^$*+?\[\]()|]", needles[0]):
                return None
            expect.setdefault("body_contains", []).append(needles[0])
            continue
        return None
    return expect


def _health(command: str, words: list[str]) -> Step | None:
    tail = re.search(r"(?:\|\|\s*exit\s+\d+|&&\s*echo\s.*)$", command)
    core = command[: tail.start()].rstrip() if tail else command
    if re.search(r"&&|\|\||;", core):
        return None
    first, rest = _pipeline(core)
    curl = _words(first)
    if not curl or curl[0] != "curl":
        return None
    read = _curl_options(curl)
    if read is None or read[0] is None or not _URL.match(read[0]):
        return None
    url, opts = read[0], read[1]
    if opts["method"] not in ("GET", "HEAD") or "body" in opts:
        return None
    expect = _expect(rest)
    if expect is None:
        return None
    if any("$" in v for v in opts["headers"].values()):
        return None
    http: Step = {"url": url}
    if opts["method"] != "GET":
        http["method"] = opts["method"]
    if opts["headers"]:
        http["headers"] = dict(opts["headers"])
    if opts.get("insecure"):
        http["verify_tls"] = False
    if expect:
        http["expect"] = expect
    if _HEALTHY.search(url.split("?")[0]):
        http["until_healthy"] = {"timeout": "60s"}
    return {"http": http}


def _notify(command: str, words: list[str]) -> Step | None:
    read = _curl_options(words) if words and words[0] == "curl" else None
    if read is None or read[0] is None or read[1]["method"] != "POST":
        return None
    url, opts = read[0], read[1]
    body = str(opts.get("body") or "")
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    text = ""
    if isinstance(payload, dict):
        found = payload.get("text") or payload.get("message") or payload.get("name")
        if isinstance(found, dict):
            found = found.get("name") or found.get("body")
        text = str(found or "")
        incident = payload.get("incident")
        if not text and isinstance(incident, dict):
            text = str(incident.get("name") or incident.get("body") or "")
    sink = "slack" if re.search(r"slack", url, re.I) else "status_page"
    return {"notify": {"to": [sink], "text": text or "{{ runbook }} {{ version }}: " + sink}}


def _readiness(command: str, words: list[str]) -> Step | None:
    if re.search(r"[;&|]", command.split("#")[0]):
        return None
    timeout = "10m"
    for word in words:
        match = re.match(r"--timeout[= ]?(\d+[smh]?)$", word)
        if match:
            value = match.group(1)
            timeout = value if value[-1] in "smh" else value + "s"
    return {"run": command, "timeout": timeout, "idempotent": True}


def _sleep(command: str, words: list[str]) -> Step | None:
    if len(words) != 2 or not re.fullmatch(r"\d+[smh]?", words[1]):
        return None
    value = words[1] if words[1][-1] in "smh" else words[1] + "s"
    return {"wait": {"duration": value, "reason": "the runbook waited here"}}


def _database(words: list[str]) -> str:
    """The database a ``pg_dump``/``pg_restore`` names, as a URL, else the declared secret."""
    for word in words:
        if re.match(r"postgres(?:ql)?://", word):
            return word
        match = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?", word)
        if match and "DATABASE" in match.group(1).upper():
            return "{{ secrets." + match.group(1) + " }}"
    return "{{ secrets." + DATABASE_SECRET + " }}"


def _tool_words(words: list[str], tool: str) -> list[str]:
    """The words from ``tool`` on (after ``docker compose exec -T db`` and the like)."""
    return words[words.index(tool) :] if tool in words else words


def _backup(command: str, words: list[str]) -> Step | None:
    if re.search(r"\|\s*(?!gzip|gz)", command) or "pg_dumpall" in command:
        return None
    return {"backup": {"database": _database(_tool_words(words, "pg_dump")), "verify": True}}


def _restore(command: str, words: list[str]) -> Step | None:
    if re.search(r"[;&|]", command.split("#")[0]):
        return None
    return {"restore": {"database": _database(_tool_words(words, "pg_restore"))}}


def _rds_instance(words: list[str]) -> str | None:
    for n, word in enumerate(words):
        if word == "--db-instance-identifier" and n + 1 < len(words):
            value = words[n + 1]
        elif word.startswith("--db-instance-identifier="):
            value = word.split("=", 1)[1]
        else:
            continue
        return value if re.fullmatch(r"[A-Za-z][\w-]*", value) else None
    return None


def _rds_backup(command: str, words: list[str]) -> Step | None:
    instance = _rds_instance(words)
    if instance is None or re.search(r"[;&|]", command.split("#")[0]):
        return None
    return {"backup": {"database": f"rds://{instance}", "verify": True}}


def _rds_restore(command: str, words: list[str]) -> Step | None:
    instance = _rds_instance(words)
    if instance is None or re.search(r"[;&|]", command.split("#")[0]):
        return None
    return {"restore": {"database": f"rds://{instance}"}}


def _migrate(tool: str) -> Builder:
    def build(command: str, words: list[str]) -> Step | None:
        if re.search(r"(?<![|])[;|](?![|])|&&", command.split("#")[0]):
            return None
        return {"migrate": {"command": command, "tool": tool}}

    return build


def _deploy(command: str, words: list[str]) -> Step | None:
    return {"run": command}


def _row(kind: str, label: str, pattern: str, build: Builder) -> Row:
    return Row(kind, label, re.compile(pattern, re.I | re.S), build)


TABLE: tuple[Row, ...] = (
    _row(
        "notify",
        "notification (Slack)",
        r"^curl\b.*(?:hooks\.slack\.com|slack\.com/api/chat)",
        _notify,
    ),
    _row(
        "notify",
        "notification (status page)",
        r"^curl\b.*(?:statuspage\.io|//status\.|/incidents\b|cachet)",
        _notify,
    ),
    _row("http", "health check", r"^curl\s", _health),
    _row(
        "run",
        "readiness wait",
        r"^kubectl\s.*\brollout\s+status\b|^kubectl\s+wait\b|^docker[- ]compose\s.*\bps\b"
        r"|^docker\s+compose\s.*\bps\b|^helm\s+status\b",
        _readiness,
    ),
    _row("wait", "wait", r"^sleep\s+\d+[smh]?\s*$", _sleep),
    _row("backup", "backup (pg_dump)", r"(?:^|\s)pg_dump\s", _backup),
    _row("restore", "restore (pg_restore)", r"(?:^|\s)pg_restore\s", _restore),
    _row("backup", "backup (RDS snapshot)", r"^aws\s+rds\s+create-db-snapshot\b", _rds_backup),
    _row(
        "restore",
        "restore (RDS snapshot)",
        r"^aws\s+rds\s+restore-db-instance-from-db-snapshot\b",
        _rds_restore,
    ),
    _row(
        "migrate",
        "migration (alembic)",
        r"(?:^|\s)alembic\s+(?:upgrade|downgrade)\b",
        _migrate("alembic"),
    ),
    _row("migrate", "migration (prisma)", r"\bprisma\s+migrate\s+deploy\b", _migrate("prisma")),
    _row(
        "migrate",
        "migration",
        r"\bmanage\.py\s+migrate\b|\brails\s+db:migrate\b|\bflyway\s+migrate\b"
        r"|\bknex\s+migrate:latest\b|\bnpm\s+run\s+(?:db:)?migrate\b",
        _migrate("command"),
    ),
    _row(
        "run",
        "deploy (a service driver is proposed)",
        r"^kubectl\s.*\bset\s+image\b|^kubectl\s+apply\b|^docker[- ]compose\s.*\bup\b"
        r"|^docker\s+compose\s.*\bup\b|^helm\s+upgrade\b|(?:^|/)deploy[\w-]*\.sh\b",
        _deploy,
    ),
)

_DRIVERS = (
    (re.compile(r"^kubectl|^helm"), "kubernetes (its rollout, and a Service selector to switch)"),
    (re.compile(r"^docker"), "command (docker compose up/down as deploy and rollback)"),
    (re.compile(r"deploy[\w-]*\.sh"), "command (this script as deploy, its rollback as undo)"),
)


def cannot_run_unattended(command: str) -> str | None:
    """Why ``command`` needs a person (an interactive program, a watcher, SQL or an HTTP
    request written in a shell block), else None."""
    if is_watcher(command):
        return "it runs until someone stops it"
    lines = [ln.strip() for ln in command.split("\n") if ln.strip()]
    if lines and _NOT_SHELL.match(lines[0]):
        return "it is not a shell command (SQL or an HTTP request): do it in its client"
    if any(_INTERACTIVE.match(ln) for ln in lines):
        return "it is interactive"
    return None


def recognise(command: str) -> Proposal:
    """The step ``command`` becomes: the first row that builds one, else ``run`` or manual.

    A placeholder (``<task-arn>``, ``yourdomain.com``) keeps a recognised step a proposal to
    complete at review; an unrecognised command with one stays manual."""
    why = cannot_run_unattended(command)
    if why is not None:
        return Proposal("manual", {"run": command, "manual": True}, note=f"kept manual: {why}")
    placeholder = _PLACEHOLDER.search(command)
    single = command.strip()
    words = _words(single)
    lines = [ln for ln in single.replace("\\\n", " ").split("\n") if ln.strip()]
    if words and len(lines) == 1:
        for row in TABLE:
            if row.pattern.search(single):
                step = row.build(single, words)
                if step is not None:
                    found = _declare(row, step, single)
                    if placeholder:
                        fill = f"fill in the placeholder {placeholder.group(0)!r} at review"
                        found.note = "; ".join(t for t in (found.note, fill) if t)
                    return found
    if placeholder:
        note = f"kept manual: it has a placeholder to fill in ({placeholder.group(0)!r})"
        return Proposal("manual", {"run": command, "manual": True}, note=note)
    return Proposal(RUN_AS_WRITTEN, {"run": command})


def _declare(row: Row, step: Step, command: str) -> Proposal:
    found = Proposal(row.label, step)
    text = json.dumps(step)
    for name in re.findall(r"secrets\.(\w+)", text):
        found.secrets[name] = {"env": name, "description": "proposed by runwright import"}
    if row.kind == "notify":
        sink = step["notify"]["to"][0]
        if sink == "slack":
            found.sinks["slack"] = {"slack": {"webhook": "{{ secrets." + SLACK_SECRET + " }}"}}
            found.secrets[SLACK_SECRET] = {"env": SLACK_SECRET, "description": "Slack webhook"}
        else:
            url = next((w for w in _words(command) or [] if re.match(r"https?://", w)), "")
            found.sinks["status_page"] = {"webhook": {"url": url}}
    if row.label.startswith("deploy"):
        driver = next((d for p, d in _DRIVERS if p.search(command)), "command")
        found.note = f"a service with driver {driver} would do this step and its rollback"
        found.service = propose_service(command)
    return found


def split_recognised(command: str) -> list[tuple[int, str]] | None:
    """A block of several commands each a table row recognises (three health ``curl``s under
    one comment), as one command per line with its offset; None when any is not recognised."""
    parts: list[tuple[int, str]] = []
    start, current = 0, ""
    for offset, line in enumerate(command.split("\n")):
        if not current:
            start = offset
        current = f"{current}\n{line}" if current else line
        if not line.rstrip().endswith("\\"):
            if current.strip() and not current.strip().startswith("#"):
                parts.append((start, current))
            current = ""
    if len(parts) < 2 or current:
        return None
    for _, part in parts:
        found = recognise(part)
        if found.manual or found.label in (RUN_AS_WRITTEN, "manual"):
            return None
    return parts


def propose_service(command: str) -> Step | None:
    """The ``service:`` a ``kubectl set image deployment/NAME CONTAINER=IMAGE:TAG -n NS`` implies:
    the kubernetes driver cloning that Deployment per version, a Service selector to switch
    (the routing blue-green needs), and the image with ``{{ version }}`` for its tag."""
    words = _words(command.strip())
    if not words or words[:3] != ["kubectl", "set", "image"]:
        return None
    namespace = "default"
    target = None
    images: list[tuple[str, str]] = []
    for n, word in enumerate(words[3:], 3):
        if word in ("-n", "--namespace") and n + 1 < len(words):
            namespace = words[n + 1]
        elif word.startswith("--namespace="):
            namespace = word.split("=", 1)[1]
        elif re.fullmatch(r"(?:deployment|deploy|deployments)[./][\w.-]+", word):
            target = re.split(r"[./]", word, maxsplit=1)[1]
        elif re.fullmatch(r"[\w.-]+=\S+", word) and words[n - 1] not in ("-n", "--namespace"):
            container, _, image = word.partition("=")
            images.append((container, image))
    if target is None or len(images) != 1:
        return None
    container, image = images[0]
    repository = re.sub(r":[^:/]+$", "", image)
    return {
        "driver": {
            "kind": "kubernetes",
            "namespace": namespace,
            "template_deployment": target,
            "container": container,
            "image": repository + ":{{ version }}",
        },
        "router": {"kind": "service-selector", "service": re.sub(r"-(?:green|blue)$", "", target)},
    }
