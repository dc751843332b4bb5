"""Executable Markdown: a team's existing runbook document, read as a runbook.

Teams already keep runbooks as Markdown. This module reads one into the same document shape a
YAML runbook has, so the loader validates it with the same schema and errors point at
``runbook.md:LINE:COL``. The rules (documented in ``docs/markdown.md``):

- YAML front-matter between ``---`` lines holds the runbook's top-level keys;
- the shallowest headings under the title are phases; a heading about rolling back is the
  ``rollback`` list; troubleshooting, emergency, maintenance and monitoring sections are
  named ``procedures``;
- a fenced shell block with attributes (```` ```sh {name=backup timeout=10m} ````) is one
  executable step; ```` ```yaml {step} ```` holds any other step kind;
- a fenced shell block without attributes is split at its comments into steps the operator
  does by hand (``manual: true``), each named by the comment above it;
- ``- [ ]`` checklist items become gate items, attested by a person unless annotated with
  ``{http="URL"}`` or ``{run="COMMAND"}``, which prove them.

``runwright import`` (``runwright.model.importer``) uses the same reading, so a Markdown runbook
and its YAML import give the same plan. Whatever is not turned into a runbook element is
returned as a ``Note`` with its line, so nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from runwright.errors import RunbookError
from runwright.model.source import PathKey, Positions, Source, parse_yaml

SHELL_LANGS = {"sh", "bash", "shell", "zsh", "console", "shell-session"}
YAML_LANGS = {"yaml", "yml"}
ROLLBACK_RE = re.compile(r"\broll(?:ing|ed)?[\s-]?back|\brevert", re.I)
PROCEDURE_RE = re.compile(
    r"troubleshoot|emergenc|incident|disaster|outage|recovery|maintenance|monitoring|"
    r"alerting|common issues",
    re.I,
)
NOT_PROCEDURE_RE = re.compile(r"contact|reference|contents", re.I)
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`]*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_CHECKBOX = re.compile(r"^\[( |x|X)\]\s+(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_NUMBERING = re.compile(r"^(?:step\s+)?\d+(?:\.\d+)*[.):]?\s+", re.I)
_NAME_OK = re.compile(r"[^A-Za-z0-9_.\- ]+")
_HEREDOC = re.compile(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")
_OPEN_WORDS = {"if": 1, "fi": -1, "case": 1, "esac": -1, "do": 1, "{": 1, "}": -1}
_OPEN_WORDS["done"] = -1  # not a status


# -- blocks -------------------------------------------------------------------------------


@dataclass
class Block:
    """One Markdown block with its 1-based first and last line."""

    kind: str  # heading | fence | item | paragraph | table | quote | html | rule
    line: int
    end: int
    text: str
    level: int = 0  # heading level, or the indent of a list item or fence
    lang: str = ""
    attrs: dict[str, Any] | None = None
    attr_cols: dict[str, int] = field(default_factory=dict)
    checkbox: bool = False
    parent: Block | None = None  # the list item a fence or paragraph is nested in


class Attributes:
    """``{name=backup timeout=10m undo="rm -f x" idempotent=true step}`` at a line's end."""

    @staticmethod
    def split(
        text: str, line: int, file: str, base_col: int
    ) -> tuple[str, dict[str, Any] | None, dict[str, int]]:
        for start in [m.start() for m in re.finditer(r"(?<![{\S])\{(?!\{)", text)]:
            parsed = Attributes._parse(text, start + 1)
            if parsed is None:
                continue
            attrs, cols, end = parsed
            if text[end:].strip():
                continue
            return text[:start].rstrip(), attrs, {k: base_col + c for k, c in cols.items()}
        if re.search(r"(?<![{\S])\{(?!\{)[A-Za-z_]", text) and text.rstrip().endswith("}"):
            col = base_col + text.rfind("{")
            raise RunbookError(
                "cannot read the attributes in braces",
                file=file,
                line=line,
                column=col,
                hint='write them as {name=value key="a value with spaces" flag}',
            )
        return text, None, {}

    @staticmethod
    def _parse(text: str, pos: int) -> tuple[dict[str, Any], dict[str, int], int] | None:
        attrs: dict[str, Any] = {}
        cols: dict[str, int] = {}
        n = len(text)
        while True:
            while pos < n and text[pos] in " \t,":
                pos += 1
            if pos >= n:
                return None
            if text[pos] == "}":
                return attrs, cols, pos + 1
            match = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*").match(text, pos)
            if not match:
                return None
            key, start, pos = match.group(0), match.start(), match.end()
            value: Any = True
            if pos < n and text[pos] == "=":
                pos += 1
                if pos < n and text[pos] in "\"'":
                    quote, pos, chars = text[pos], pos + 1, []
                    while pos < n and text[pos] != quote:
                        if text[pos] == "\\" and pos + 1 < n and text[pos + 1] in (quote, "\\"):
                            pos += 1
                        chars.append(text[pos])
                        pos += 1
                    if pos >= n:
                        return None
                    pos += 1
                    value = "".join(chars)
                else:
                    match = re.compile(r"[^\s}]+").match(text, pos)
                    if not match:
                        return None
                    value, pos = _typed(match.group(0)), match.end()
            attrs[key] = value
            cols[key] = start


def _typed(raw: str) -> Any:
    if raw.lower() in ("true", "yes"):
        return True
    if raw.lower() in ("false", "no"):
        return False
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw


def scan(text: str, file: str, start: int = 0) -> list[Block]:
    """Split Markdown ``text`` (its lines from index ``start``) into blocks."""
    lines = text.split("\n")
    blocks: list[Block] = []
    item: Block | None = None
    i = start
    while i < len(lines):
        raw = lines[i]
        if not raw.strip():
            i += 1
            continue
        indent = len(raw) - len(raw.lstrip())
        if item is not None and indent <= item.level and not _ITEM.match(raw):
            item = None
        fence = _FENCE.match(raw)
        if fence:
            marker, info = fence.group(2), fence.group(3).strip()
            close = i + 1
            while close < len(lines):
                m = _FENCE.match(lines[close])
                if m and m.group(2).startswith(marker[0] * len(marker)) and not m.group(3).strip():
                    break
                close += 1
            body = [_dedent(line, indent) for line in lines[i + 1 : close]]
            lang, _, rest = info.partition(" ") if not info.startswith("{") else ("", "", info)
            rest_col = raw.rfind(rest) + 1 if rest else 0
            _, attrs, cols = (
                Attributes.split(rest, i + 1, file, rest_col) if rest else ("", None, {})
            )
            blocks.append(
                Block(
                    "fence",
                    i + 1,
                    min(close, len(lines) - 1) + 1,
                    "\n".join(body),
                    indent,
                    lang.lower(),
                    attrs,
                    cols,
                    parent=item if item and indent > item.level else None,
                )
            )
            i = close + 1
            continue
        heading = _HEADING.match(raw)
        if heading:
            item = None
            blocks.append(Block("heading", i + 1, i + 1, heading.group(2), len(heading.group(1))))
            i += 1
            continue
        if _RULE.match(raw):
            blocks.append(Block("rule", i + 1, i + 1, raw.strip()))
            i += 1
            continue
        if "|" in raw and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            blocks.append(Block("table", i + 1, end, "\n".join(lines[i:end])))
            i = end
            continue
        list_item = _ITEM.match(raw)
        if list_item:
            text = list_item.group(3)
            end = i + 1
            while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
                text += " " + lines[end].strip()
                end += 1
            checkbox = _CHECKBOX.match(text)
            block = Block("item", i + 1, end, text, indent, checkbox=bool(checkbox))
            if checkbox:
                text_col = raw.find(checkbox.group(2)) + 1
                block.text, block.attrs, block.attr_cols = Attributes.split(
                    checkbox.group(2), i + 1, file, text_col
                )
            if item is not None and indent > item.level:
                block.parent = item
            blocks.append(block)
            item = block if item is None or indent <= item.level else item
            i = end
            continue
        kind = (
            "quote"
            if raw.lstrip().startswith(">")
            else "html"
            if raw.lstrip().startswith("<")
            else "paragraph"
        )
        end = i + 1
        while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
            end += 1
        parent = item if item is not None and indent > item.level else None
        blocks.append(Block(kind, i + 1, end, "\n".join(lines[i:end]), indent, parent=parent))
        i = end
    return blocks


def _starts_block(line: str) -> bool:
    return bool(
        _FENCE.match(line) or _HEADING.match(line) or _ITEM.match(line) or _RULE.match(line)
    )


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


# -- shell blocks -------------------------------------------------------------------------


@dataclass
class ShellCommand:
    """Commands under one comment: the comment names them, earlier comments describe them."""

    line: int  # first line of the name comment, or of the command
    command_line: int
    name: str | None
    description: list[str]
    command: str


@dataclass
class _ShellState:
    single: bool = False
    double: bool = False
    depth: int = 0
    continued: bool = False
    heredoc: str | None = None

    @property
    def complete(self) -> bool:
        return not (self.single or self.double or self.depth > 0 or self.continued or self.heredoc)

    def feed(self, line: str) -> None:
        if self.heredoc is not None:
            if line.strip() == self.heredoc:
                self.heredoc = None
            return
        self.continued = False
        word = ""
        i = 0
        while i < len(line):
            c = line[i]
            if self.single:
                self.single = c != "'"
            elif self.double:
                if c == "\\":
                    i += 1
                elif c == '"':
                    self.double = False
            elif c == "\\" and i == len(line.rstrip()) - 1:
                self.continued = True
            elif c == "\\":
                i += 1
            elif c == "'":
                self.single = True
            elif c == '"':
                self.double = True
            elif c == "#" and not word:
                break
            elif c in " \t;&|()<>":
                self._word(word)
                word = ""
                if c == "(":
                    self.depth += 1
                elif c == ")":
                    self.depth = max(0, self.depth - 1)
                elif c == "<":
                    here = _HEREDOC.match(line, i)
                    if here:
                        self.heredoc = here.group(1)
                        i = here.end() - 1
            else:
                word += c
            i += 1
        self._word(word)

    def _word(self, word: str) -> None:
        self.depth = max(0, self.depth + _OPEN_WORDS.get(word, 0))


def split_shell(text: str, first_line: int) -> tuple[list[ShellCommand], list[tuple[int, str]]]:
    """Split a shell block at its comments; return the commands and leftover comment lines."""
    lines = text.split("\n")
    if any(line.startswith("#!") for line in lines):
        titles = [
            ln.lstrip("#").strip()
            for ln in lines
            if ln.strip().startswith("#") and not ln.startswith("#!")
        ]
        return [
            ShellCommand(
                first_line, first_line, titles[0] if titles else None, [], text.strip("\n")
            )
        ], []
    state = _ShellState()
    out: list[ShellCommand] = []
    comments: list[tuple[int, str]] = []
    current: list[str] = []
    for offset, line in enumerate(lines):
        number = first_line + offset
        stripped = line.strip()
        if state.complete and stripped.startswith("#"):
            if current and out:
                out[-1].command = "\n".join(current).strip("\n")
                current = []
            comments.append((number, stripped.lstrip("#").strip()))
            continue
        if state.complete and not stripped:
            if current:
                current.append("")
            continue
        if state.complete and not current:
            name = comments[-1][1] if comments else None
            out.append(
                ShellCommand(
                    comments[-1][0] if comments else number,
                    number,
                    name,
                    [c for _, c in comments[:-1]],
                    "",
                )
            )
            comments = []
        current.append(line)
        state.feed(line)
    if current and out:
        out[-1].command = "\n".join(current).strip("\n")
    return out, comments


# -- the document -------------------------------------------------------------------------


@dataclass
class Note:
    """A part of the document that did not become a runbook element."""

    line: int
    end: int
    kind: str
    text: str
    kept: str | None = None  # where it was kept (a description), or None when dropped


@dataclass
class _Container:
    kind: str  # phase | rollback | procedure | top
    name: str
    line: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    positions: list[tuple[PathKey, tuple[int, int], bool]] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass
class Conversion:
    """A Markdown document read as a runbook: its data, positions and what was left over."""

    data: dict[str, Any]
    positions: Positions
    notes: list[Note]
    blocks: list[tuple[Block, str]]  # every prose block with the heading it sits under
    text: str


def clean_title(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]{1,3}", "", text).strip()
    text = re.sub(r"^[^\w(\[]+", "", text).strip()
    text = _NUMBERING.sub("", text).strip()
    return text.rstrip(":").strip() or "untitled"


def _runbook_name(title: str | None, file: str) -> str:
    for candidate in (title or "", PurePath(file).stem):
        name = re.sub(r"\s+", " ", _NAME_OK.sub(" ", candidate)).strip(" -_.")
        if name:
            return name
    return "runbook"


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.text = text
        self.positions = Positions()
        self.notes: list[Note] = []
        self.prose: list[tuple[Block, str]] = []
        self.names: set[str] = set()
        self.containers: list[_Container] = []
        self.body = 0
        self.title_line = 0

    def unique(self, name: str, names: set[str]) -> str:
        name = name[:80].rstrip() or "step"
        candidate, n = name, 2
        while candidate in names:
            candidate = f"{name} ({n})"
            n += 1
        names.add(candidate)
        return candidate

    def front_matter(self) -> tuple[dict[str, Any], Positions, int]:
        lines = self.text.split("\n")
        if not lines or lines[0].strip() != "---":
            return {}, Positions(), 0
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                src = parse_yaml("\n".join(lines[1:end]), self.file, line_offset=1)
                if src.data is None:
                    return {}, src.positions, end + 1
                if not isinstance(src.data, dict):
                    raise RunbookError(
                        "the front-matter must be a mapping of runbook keys",
                        file=self.file,
                        line=2,
                        column=1,
                        hint="for example: name: my-service",
                    )
                return src.data, src.positions, end + 1
        raise RunbookError(
            "the front-matter starting at line 1 has no closing '---'",
            file=self.file,
            line=1,
            column=1,
            hint="end the front-matter with a '---' line",
        )

    def read(self) -> Conversion:
        front, front_pos, body = self.front_matter()
        self.body = body
        blocks = scan(self.text, self.file, body)
        headings = [b for b in blocks if b.kind == "heading"]
        title = (
            headings[0]
            if headings and headings[0].level == 1 and sum(h.level == 1 for h in headings) == 1
            else None
        )
        self.title_line = title.line if title else 0
        levels = [h.level for h in headings if h is not title]
        phase_level = min(levels) if levels else 2
        top = _Container("top", "", 1)
        current = top
        outer: _Container = top  # the phase-level section
        rollback: _Container | None = None
        rollback_level = 0
        heading_text = clean_title(title.text) if title else ""
        label: str | None = None
        pending: list[Block] = []
        for block in blocks:
            if block.kind == "heading":
                self.flush_gate(pending, current, heading_text)
                pending = []
                label = None
                if block is title:
                    continue
                name = clean_title(block.text)
                heading_text = name
                if rollback is not None and block.level <= rollback_level:
                    rollback, current = None, outer
                if block.level <= phase_level:
                    if ROLLBACK_RE.search(block.text):
                        outer = self.container("rollback", "rollback", block.line)
                    elif PROCEDURE_RE.search(block.text) and not NOT_PROCEDURE_RE.search(
                        block.text
                    ):
                        outer = self.container("procedure", name, block.line)
                    else:
                        outer = self.container("phase", name, block.line)
                    current = outer
                    continue
                if outer.kind == "procedure" and block.level == phase_level + 1:
                    current = self.container("procedure", name, block.line)
                elif rollback is None and outer.kind == "phase" and ROLLBACK_RE.search(block.text):
                    rollback, rollback_level = (
                        self.container("rollback", "rollback", block.line),
                        block.level,
                    )
                    current = rollback
                if current.kind in ("phase", "procedure") and block.level > phase_level:
                    current.description.append(f"{'#' * block.level} {block.text}")
                continue
            if block.kind == "item" and block.checkbox:
                pending.append(block)
                continue
            if block.parent is not None and block.parent.checkbox and pending:
                if block.kind == "fence":
                    self.fence(block, current, clean_title(block.parent.text))
                else:
                    block.parent.text += " " + block.text.strip()
                continue
            self.flush_gate(pending, current, heading_text)
            pending = []
            if block.kind == "fence":
                context = clean_title(block.parent.text) if block.parent else label or heading_text
                self.fence(block, current, context)
                continue
            if block.kind == "rule":
                continue
            stripped = block.text.strip()
            short = block.kind == "paragraph" and len(stripped) < 100
            short = short and (stripped.endswith(":") or stripped.startswith(("**", "__")))
            label = clean_title(block.text) if short else None
            self.prose.append((block, heading_text))
            self.describe(block, current)
        self.flush_gate(pending, current, heading_text)
        return self.assemble(front, front_pos, title, top)

    def container(self, kind: str, name: str, line: int) -> _Container:
        if kind == "rollback":
            existing = next((c for c in self.containers if c.kind == "rollback"), None)
            if existing:
                return existing
        if kind == "procedure":
            name = self.unique(name, {c.name for c in self.containers if c.kind == "procedure"})
        found = _Container(kind, name, line)
        self.containers.append(found)
        return found

    def describe(self, block: Block, where: _Container) -> None:
        if where.kind in ("phase", "procedure", "top"):
            where.description.append(
                block.text.strip() if block.kind != "item" else f"- {block.text}"
            )
        where.notes.append(Note(block.line, block.end, block.kind, block.text.strip()))

    def add(
        self,
        where: _Container,
        step: dict[str, Any],
        line: int,
        col: int = 1,
        keys: dict[str, tuple[int, int]] | None = None,
        nested: Positions | None = None,
    ) -> None:
        names = self.names if where.kind != "procedure" else {s["name"] for s in where.steps}
        step["name"] = self.unique(str(step.get("name") or "step"), names)
        index = len(where.steps)
        where.steps.append(step)
        where.positions.append(((index,), (line, col), False))
        for key, pos in (keys or {}).items():
            where.positions.append(((index, key), pos, True))
            where.positions.append(((index, key), pos, False))
        if nested is not None:
            for path, pos in nested.values.items():
                where.positions.append(((index, *path), (pos[0] + nested.offset, pos[1]), False))
            for path, pos in nested.keys.items():
                where.positions.append(((index, *path), (pos[0] + nested.offset, pos[1]), True))

    def fence(self, block: Block, where: _Container, context: str) -> None:
        attrs = dict(block.attrs or {})
        if attrs.pop("skip", False):
            return
        content_line = block.line + 1
        if block.lang in YAML_LANGS and attrs.pop("step", False):
            src = parse_yaml(block.text, self.file, line_offset=block.line)
            if not isinstance(src.data, dict):
                raise RunbookError(
                    "a ```yaml {step} block must hold one step mapping",
                    file=self.file,
                    line=content_line,
                    column=1,
                    hint="for example: name: health\\nhttp: http://127.0.0.1/health",
                )
            step = {**src.data, **attrs}
            keys = {k: (block.line, c) for k, c in block.attr_cols.items() if k in attrs}
            self.add(where, step, block.line, 1, keys, src.positions)
            return
        if block.lang in SHELL_LANGS and block.attrs is not None:
            command = _strip_prompt(block.text, block.lang).strip("\n")
            step = {"name": attrs.pop("name", None) or context, "run": command, **attrs}
            keys = {k: (block.line, c) for k, c in block.attr_cols.items() if k in step}
            keys["run"] = (content_line, 1)
            self.add(where, step, block.line, 1, keys)
            return
        if block.lang not in SHELL_LANGS or block.attrs is not None:
            what = f"code block ({block.lang or 'no language'})"
            where.notes.append(Note(block.line, block.end, what, block.text.strip()))
            return
        commands, leftovers = split_shell(_strip_prompt(block.text, block.lang), content_line)
        for cmd in commands:
            if not cmd.command.strip():
                continue
            made: dict[str, Any] = {"name": _step_name(cmd, context)}
            if cmd.description:
                made["description"] = "\n".join(cmd.description)
            made["run"] = _literal(cmd.command)
            made["manual"] = True
            self.add(where, made, cmd.line, 1, {"run": (cmd.command_line, 1)})
        if leftovers and commands and where.steps:
            last = where.steps[-1]
            extra = "\n".join(text for _, text in leftovers)
            last["description"] = (str(last.get("description", "")) + "\n" + extra).strip()
        elif leftovers:
            text = "\n".join(t for _, t in leftovers)
            where.notes.append(
                Note(leftovers[0][0], leftovers[-1][0], "comments without a command", text)
            )

    def flush_gate(self, items: list[Block], where: _Container, name: str) -> None:
        if not items:
            return
        gate_items: list[Any] = []
        for item in items:
            text = re.sub(r"\s+", " ", item.text).strip()
            attrs = dict(item.attrs or {})
            proof = {k: attrs.pop(k) for k in ("http", "run") if k in attrs}
            if proof or attrs:
                gate_items.append({"text": text, **({"check": proof} if proof else {}), **attrs})
            else:
                gate_items.append(text)
        self.add(where, {"name": name or "checklist", "gate": {"items": gate_items}}, items[0].line)
        index = len(where.steps) - 1
        for n, item in enumerate(items):
            where.positions.append(((index, "gate", "items", n), (item.line, 1), False))

    def assemble(
        self, front: dict[str, Any], front_pos: Positions, title: Block | None, top: _Container
    ) -> Conversion:
        data: dict[str, Any] = dict(front)
        pos = self.positions
        for path, (line, col) in front_pos.values.items():
            pos.values[path] = (line + front_pos.offset, col)
        for path, (line, col) in front_pos.keys.items():
            pos.keys[path] = (line + front_pos.offset, col)
        if "name" not in data:
            data["name"] = _runbook_name(clean_title(title.text) if title else None, self.file)
            pos.values[("name",)] = (title.line, 1) if title else (1, 1)
        if "description" not in data and top.notes and top.notes[0].kind == "paragraph":
            data["description"] = top.notes[0].text
            top.notes[0].kept = "the runbook's description"
        self.notes.extend(top.notes)
        if top.steps:
            top.name = str(data["name"])
            top.kind = "phase"
            self.containers.insert(0, top)
        phases = list(data.get("phases") or [])
        rollback = list(data.get("rollback") or [])
        procedures = dict(data.get("procedures") or {})
        for c in self.containers:
            if c.kind == "procedure" and not c.steps and not c.description:
                continue
            if c.kind == "phase" and not c.steps:
                self.notes.extend(Note(n.line, n.end, n.kind, n.text, None) for n in c.notes)
                continue
            if c.kind == "phase":
                base: PathKey = ("phases", len(phases), "steps")
                pos.values[("phases", len(phases))] = (c.line, 1)
                phase: dict[str, Any] = {"name": c.name, "steps": c.steps}
                if c.description:
                    phase["description"] = "\n\n".join(c.description)
                phases.append(phase)
                kept = f"description of phase '{c.name}'"
            elif c.kind == "rollback":
                base = ("rollback",)
                offset = len(rollback)
                rollback.extend(c.steps)
                c.positions = [((int(p[0]) + offset, *p[1:]), q, k) for p, q, k in c.positions]
                kept = None
            else:
                base = ("procedures", c.name, "steps")
                pos.values[("procedures", c.name)] = (c.line, 1)
                procedures[c.name] = {"description": "\n\n".join(c.description), "steps": c.steps}
                kept = f"description of procedure '{c.name}'"
            for path, at, is_key in c.positions:
                (pos.keys if is_key else pos.values)[(*base, *path)] = at
            self.notes.extend(
                Note(
                    n.line,
                    n.end,
                    n.kind,
                    n.text,
                    kept if not n.kind.startswith(("code", "comments")) else None,
                )
                for n in c.notes
            )
        if phases:
            data["phases"] = phases
        if rollback:
            data["rollback"] = rollback
        if procedures:
            data["procedures"] = procedures
        if "environments" not in data:
            data["environments"] = self.environments()
        self.notes.sort(key=lambda n: n.line)
        return Conversion(data, pos, self.notes, self.prose, self.text)

    def environments(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for block in scan(self.text, self.file, self.body):
            if block.kind != "heading" or block.line == self.title_line:
                continue
            for env in ("staging", "production"):
                if env not in found and re.search(rf"\b{env}\b", block.text, re.I):
                    found[env] = {
                        "description": f"inferred from line {block.line}: {clean_title(block.text)}"
                    }
                    self.positions.values[("environments", env)] = (block.line, 1)
        if "staging" in found:
            found.setdefault(
                "production", {"description": "inferred: staging comes before production"}
            )
            return {"staging": found["staging"], "production": found["production"]}
        return {
            "production": found.get(
                "production", {"description": "the only environment the document names"}
            )
        }


def _step_name(cmd: ShellCommand, context: str) -> str:
    if not cmd.name:
        return context or cmd.command.split("\n")[0][:60]
    name = clean_title(cmd.name)
    return f"{context}: {name}" if context and len(name.split()) <= 2 else name


def _strip_prompt(text: str, lang: str) -> str:
    if lang not in ("console", "shell-session"):
        return text
    return "\n".join(line[2:] if line.startswith("$ ") else line for line in text.split("\n"))


def _literal(command: str) -> str:
    """Imported commands are shown as written: Jinja-looking text is kept literal."""
    if "{{" in command or "{%" in command:
        return "{% raw %}" + command + "{% endraw %}"
    return command


def convert(text: str, file: str) -> Conversion:
    """Read a Markdown runbook; raise RunbookError at ``file:line:col`` for what cannot be read."""
    return _Reader(text, file).read()


def parse_markdown(text: str, file: str) -> Source:
    """The loader's entry point: a Markdown runbook as a ``Source`` with Markdown positions."""
    conversion = convert(text, file)
    return Source(file=file, text=text, data=conversion.data, positions=conversion.positions)
