"""What a fenced code block in a runbook is: a command to run, or output someone pasted.

Runbooks show commands and, right beside them, what those commands print: a JSON response,
a ``kubectl get`` table, a log excerpt. Output must never be planned as a command, and a
command that watches forever (``kubectl logs -f``, ``tail -f``, ``watch``) must not hang a
run. These rules are data: a regex per case, tested one by one.
"""

from __future__ import annotations

import re

from runwright.model.md_shell import ShellCommand

SHELL_LANGS = {"sh", "bash", "shell", "zsh", "console", "shell-session"}
YAML_LANGS = {"yaml", "yml"}
OUTPUT_LANGS = {"json", "text", "txt", "plaintext", "output", "log", "logs", "csv", "http"}
EXAMPLE_LABEL = re.compile(
    r"(?:expected|example|sample|typical)\s+(?:output|result|response)|should (?:return|print|"
    r"show|see|look like)|you(?:'ll| will) see|^(?:output|response|result|returns?|example)$"
    r"|^(?:it |this )?(?:prints|outputs|returns)\b",
    re.I,
)
# The first line of pasted output: JSON, a Markdown/ASCII table, an HTTP status line,
# a column header in capitals ("NAME   READY   STATUS"), or a log line with a timestamp.
OUTPUT_LINE = re.compile(
    r"^\s*(?:[{\[]\s*(?:\"|$|\{|\[)|\||\+-{2,}|HTTP/\d|[A-Z][A-Z_-]{2,}(?: {2,}[A-Z][A-Z_-]+)+\s*$"
    r"|\d{4}-\d\d-\d\dT?\s?\d\d:\d\d)"
)
# A comment that says something about the command rather than naming it.
ASIDE = re.compile(r"^(?:note|nb|warning|warn|important|caution|careful|tip|todo|fixme)\b\W", re.I)
WATCHER = re.compile(
    r"\b(?:tail|journalctl|kubectl\s+logs|docker(?:-compose|\s+compose)?\s+logs|stern|heroku\s+logs)"
    r"\b[^\n|;&]*\s(?:-f|--follow|-F)\b"
    r"|(?:^|[;&|]\s*|\n\s*)watch\s"
    r"|\bkubectl\s+(?:get|rollout\s+status)\b[^\n|;&]*\s(?:-w|--watch)\b"
    r"|\b(?:top|htop)\s*$",
    re.M,
)
WATCHER_TIMEOUT = "5m"
_NUMBERING = re.compile(r"^(?:step\s+)?\d+(?:\.\d+)*[.):]?\s+", re.I)


def is_example_output(lang: str, text: str, label: str | None) -> bool:
    """Output pasted into the document: by its language, the label above it, or its look."""
    if lang in OUTPUT_LANGS:
        return True
    if label is not None and EXAMPLE_LABEL.search(label):
        return True
    lines = (ln for ln in text.split("\n") if ln.strip() and not ln.lstrip().startswith("#"))
    first = next(lines, "")
    return lang in SHELL_LANGS and bool(OUTPUT_LINE.match(first))


def is_watcher(command: str) -> bool:
    """A command that keeps running until someone stops it."""
    return bool(WATCHER.search(command))


def watcher_offset(command: str) -> int | None:
    """How many lines into ``command`` the first watcher is, None without one."""
    match = WATCHER.search(command)
    if match is None:
        return None
    start = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
    return command.count("\n", 0, start)


def strip_prompt(text: str, lang: str) -> str:
    """Only the prompted lines of a console session are commands; the rest is their output."""
    if lang not in ("console", "shell-session"):
        return text
    lines = text.split("\n")
    if not any(line.startswith("$ ") for line in lines):
        return text
    kept: list[str] = []
    continued = False
    for line in lines:
        if line.startswith("$ ") or continued or line.lstrip().startswith("#"):
            kept.append(line[2:] if line.startswith("$ ") else line)
            continued = kept[-1].rstrip().endswith("\\")
        else:
            kept.append("")  # output: a blank keeps the line numbers of what follows
            continued = False
    return "\n".join(kept)


_RUN_VALUES = re.compile(r"(?<!\$)\{\{\s*(?:version|environment)\s*\}\}")
_JINJA = ("{{", "{%", "{#")
_END_RAW = "{% endraw %}"
_ENDS_RAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")


def literal(command: str) -> str:
    """Imported commands are shown as written: Jinja-looking text is kept literal, except
    ``{{ version }}`` and ``{{ environment }}``, which the run fills in (shell-quoted)."""
    if not any(mark in command for mark in _JINJA):
        return command
    out: list[str] = []
    start = 0
    for match in _RUN_VALUES.finditer(command):
        out += [_raw(command[start : match.start()]), match.group(0)]
        start = match.end()
    out.append(_raw(command[start:]))
    return "".join(out)


def _raw(text: str) -> str:
    """``text`` inside ``{% raw %}``; an ``{% endraw %}`` in it cannot end the raw block
    (its ``{`` stays inside, the rest follows as plain text)."""
    if not any(mark in text for mark in _JINJA):
        return text
    inner = _ENDS_RAW.sub(lambda m: "{" + _END_RAW + m.group(0)[1:] + "{% raw %}", text)
    return "{% raw %}" + inner + _END_RAW


def clean_title(text: str) -> str:
    """A heading or comment as a name: no Markdown, emoji, numbering or trailing colon."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]{1,3}", "", text).strip()
    text = re.sub(r"^[^\w(\[]+", "", text).strip()
    text = _NUMBERING.sub("", text).strip()
    return text.rstrip(":").strip() or "untitled"


def step_name(cmd: ShellCommand, context: str) -> str:
    if not cmd.name:
        return context or cmd.command.split("\n")[0][:60]
    name = clean_title(cmd.name)
    return f"{context}: {name}" if context and len(name.split()) <= 2 else name
