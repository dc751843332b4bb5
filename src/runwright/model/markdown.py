"""Executable Markdown: a team's existing runbook document, read as a runbook.

Teams already keep runbooks as Markdown. This module reads one into the same document shape a
YAML runbook has, so the loader validates it with the same schema and errors point at
``runbook.md:LINE:COL``. The rules (documented in ``docs/markdown.md``):

- YAML front-matter between ``---`` lines holds the runbook's top-level keys;
- the shallowest headings under the title are phases; every heading is read by the section
  classifier (``md_sections``): rolling back goes to ``rollback``; alternatives, drills and
  troubleshooting become named ``procedures`` (alternatives leave a "choose one" gate);
  prevention checklists a gate before the first phase; reference and strategy sections
  text; a heading about deploying to one environment restricts its steps to it;
- a fenced shell block with attributes (```` ```sh {name=backup timeout=10m} ````) is one
  executable step; ```` ```yaml {step} ```` holds any other step kind;
- a fenced shell block without attributes is split at its comments (``md_shell``) into steps
  the operator does by hand (``manual: true``), each named by the comment above it; pasted
  output never becomes a step and watchers get a timeout (``md_fences``);
- ``- [ ]`` checklist items become gate items, attested by a person unless annotated with
  ``{http="URL"}`` or ``{run="COMMAND"}``, which prove them.

``runwright import`` (``runwright.model.importer``) uses the same reading, so a Markdown runbook
and its YAML import give the same plan. Whatever is not turned into a runbook element is
returned as a ``Note`` with its line, so nothing is dropped silently. The blocks come from
markdown-it-py (``md_blocks``); this module only maps them to the runbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from runwright.errors import RunbookError
from runwright.model.md_blocks import Block, plain_text, scan
from runwright.model.md_fences import (
    ASIDE,
    OUTPUT_LINE,
    SHELL_LANGS,
    WATCHER_TIMEOUT,
    YAML_LANGS,
    clean_title,
    is_example_output,
    literal,
    step_name,
    strip_prompt,
    watcher_offset,
)
from runwright.model.md_recognize import split_recognised
from runwright.model.md_sections import (
    CHOICE_GATE,
    IF_NEEDED_GATE,
    Place,
    SectionRule,
    classify,
    commands_environment,
    describes_deploying,
    environment_of,
    is_label_section,
    paired_degrees,
)
from runwright.model.md_shell import ShellCommand, split_shell
from runwright.model.source import PathKey, Positions, Source, parse_yaml

_NAME_OK = re.compile(r"[^A-Za-z0-9_.\- ]+")
_LABEL_END = (":", "**", "__")


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
    kind: str  # phase | rollback | procedure | note | top
    name: str
    line: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    positions: list[tuple[PathKey, tuple[int, int], bool]] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    into: _Container | None = None  # a note section: the container its text is kept in
    first: bool = False  # a pre-deployment gate: placed before the document's phases
    names: set[str] = field(default_factory=set)  # a procedure's step names


@dataclass
class _Frame:
    """An open heading: its level, where its content goes, and its environment."""

    level: int
    name: str
    container: _Container
    env: str | None
    group: bool = False  # a top-level procedure section: its sub-headings are procedures
    synthetic: bool = False  # a bold label read as a heading


@dataclass
class _Choice:
    """A gate that asks which of several alternative procedures was carried out."""

    step: dict[str, Any]
    names: list[str]


@dataclass
class Conversion:
    """A Markdown document read as a runbook: its data, positions and what was left over."""

    data: dict[str, Any]
    positions: Positions
    notes: list[Note]
    blocks: list[tuple[Block, str]]  # every prose block with the heading it sits under
    text: str
    sections: list[tuple[int, str, str]] = field(default_factory=list)  # line, heading, where
    commands: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # manual steps


def _runbook_name(title: str | None, file: str) -> str:
    for candidate in (title or "", PurePath(file).stem):
        name = re.sub(r"\s+", " ", _NAME_OK.sub(" ", candidate)).strip(" -_.")
        if name:
            return name
    return "runbook"


class _Reader:
    def __init__(self, text: str, file: str, automate: bool = False) -> None:
        self.file = file
        self.automate = automate  # split blocks of recognised commands into one step each
        self.text = text
        self.positions = Positions()
        self.notes: list[Note] = []
        self.prose: list[tuple[Block, str]] = []
        self.names: set[str] = set()
        self.procedure_names: set[str] = set()
        self.suffixes: dict[int, dict[str, int]] = {}
        self.containers: list[_Container] = []
        self.sections: list[tuple[int, str, str]] = []
        self.paired: set[int] = set()  # "Immediate / Full rollback" headings read as a choice
        self.deploying: dict[str, int] = {}  # environment -> line of the heading naming it
        self.choices: dict[int, _Choice] = {}
        self.item_procedures: dict[int, _Container] = {}  # conditional list items
        # the last label line ("Via GitHub Actions:"): its text, container, first step, line
        self.last_label: tuple[str, _Container, int, int] | None = None
        self.body = 0
        self.phase_level = 2
        self.top = _Container("top", "", 1)
        self.current = self.top
        self.stack: list[_Frame] = []
        self.env: str | None = None
        self.heading_text = ""
        self.label: str | None = None
        self.fresh_label = False  # the label is the paragraph right above the next block
        self.pending: list[Block] = []
        self.commands: list[tuple[dict[str, Any], str]] = []  # each manual step, as written

    def unique(self, name: str, names: set[str]) -> str:
        """``name``, or ``name (2)``, ``(3)``...: linear however often a name repeats."""
        name = name[:80].rstrip() or "step"
        counters = self.suffixes.setdefault(id(names), {})
        candidate, n = name, counters.get(name, 2)
        while candidate in names:
            candidate = f"{name} ({n})"
            n += 1
        counters[name] = n
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
        levels = [h.level for h in headings if h is not title]
        self.phase_level = min(levels) if levels else 2
        self.paired = paired_degrees([(h.line, h.level, h.text) for h in headings])
        self.heading_text = clean_title(title.text) if title else ""
        for block in blocks:
            if block.kind == "heading":
                self.flush()
                self.label = None
                if block is not title:
                    self.last_label = None
                    self.heading(block)
            else:
                self.body_block(block)
        self.flush()
        self.close_choices()
        return self.assemble(front, front_pos, title, self.top)

    def flush(self) -> None:
        self.flush_gate(self.pending, self.current, self.heading_text)
        self.pending = []

    def heading(self, block: Block) -> None:
        name = clean_title(block.text)
        self.heading_text = name
        while self.stack and self.stack[-1].level >= block.level:
            self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        top = block.level <= self.phase_level
        inside = parent.container.kind if parent else "top"
        lone = frozenset() if block.line in self.paired else frozenset({"escalation"})
        rule = (
            classify(block.text, top=top, exclude=lone)
            if inside not in ("procedure", "note")
            else None
        )
        container, group = self.section(block, name, rule, parent)
        env = environment_of(block.text, rule)
        if env is not None and describes_deploying(block.text, rule):
            self.deploying.setdefault(env, block.line)
        if env is None and parent is not None and (rule is None or rule.place is Place.ROLLBACK):
            env = parent.env
        self.stack.append(_Frame(block.level, name, container, env, group))
        self.current, self.env = container, env
        where = container.kind if container.kind != "top" else "phase"
        self.sections.append((block.line, name, f"{where} '{container.name}'"))
        if container.kind in ("phase", "procedure", "note") and not top:
            container.description.append(f"{'#' * block.level} {block.text}")

    def section(
        self, block: Block, name: str, rule: SectionRule | None, parent: _Frame | None
    ) -> tuple[_Container, bool]:
        """The container a heading's content goes to, and whether it is a procedure group."""
        outer = parent.container if parent else self.top
        top = block.level <= self.phase_level
        place = rule.place if rule else None
        if place is Place.ROLLBACK:
            if outer.kind == "rollback":
                return outer, False
            return self.container("rollback", "rollback", block.line), False
        if place is Place.NOTE:
            into = outer if outer.kind in ("phase", "procedure") else self.top
            found = self.container("note", name, block.line)
            found.into = into
            return found, False
        if place is Place.PREDEPLOY:
            found = self.container("phase", name, block.line)
            found.first = True
            return found, False
        if place is Place.ALTERNATIVE:
            full = f"{parent.name}: {name}" if parent else name
            found = self.container("procedure", full, block.line)
            self.choice(outer, found, parent.level if parent else 0, block.line)
            return found, False
        if place is Place.OPTIONAL:
            found = self.container("procedure", name, block.line)
            if outer.kind != "note":
                self.add(outer, _if_needed(found.name), block.line)
            return found, False
        if place is Place.PROCEDURE:
            return self.container("procedure", name, block.line), top
        if parent is None or top:
            return self.container("phase", name, block.line), False
        if parent.group and block.level == self.phase_level + 1:
            return self.container("procedure", name, block.line), False
        return outer, False

    def choice(self, outer: _Container, option: _Container, level: int, line: int) -> None:
        """One gate in ``outer`` naming every alternative under the same heading."""
        key = id(outer) * 16 + level
        found = self.choices.get(key)
        if found is None:
            name = CHOICE_GATE + (outer.name or self.heading_text)
            gate = {"name": name, "gate": {"items": []}}
            if outer.kind == "note":
                return
            self.add(outer, gate, line)
            found = self.choices[key] = _Choice(gate, [])
        found.names.append(option.name)

    def close_choices(self) -> None:
        """Word each choice gate once every alternative is known."""
        for found in self.choices.values():
            listed = "; ".join(f"'{n}'" for n in found.names)
            found.step["gate"]["items"] = [
                f"one of these was carried out (runwright run-procedure RUNBOOK NAME): {listed}"
            ]
            found.step["description"] = "alternatives: " + listed

    def body_block(self, block: Block) -> None:
        current = self.current
        gates_all = current.first
        if block.kind == "item" and (block.checkbox or gates_all):
            self.pending.append(block)
            return
        parent = block.parent
        if parent is not None and (parent.checkbox or gates_all) and self.pending:
            if block.kind == "fence":
                self.fence(block, current, clean_title(parent.text))
            else:
                parent.text += " " + block.text.strip()
            return
        self.flush()
        if block.kind == "fence":
            context = clean_title(parent.text) if parent else self.label or self.heading_text
            target = self.conditional_item(parent, current) if parent is not None else None
            self.fence(block, target or current, context)
            self.fresh_label = False
            return
        if block.kind == "rule":
            return
        if block.kind == "html" and block.text.startswith("<!--"):
            kept = "an HTML comment: not part of the runbook"
            self.notes.append(Note(block.line, block.end, "html comment", block.text, kept))
            return
        stripped = block.text.strip()
        short = block.kind == "paragraph" and len(stripped) < 100
        self.label = clean_title(block.text) if short and stripped.endswith(_LABEL_END) else None
        if short and (stripped.startswith(("**", "__")) or stripped.endswith(":")):
            self.label = clean_title(block.text)
            if self.label_section(block, self.label):
                return
        self.fresh_label = self.label is not None
        if self.label is not None and block.parent is None:
            self.last_label = (self.label, current, len(current.steps), block.line)
        self.prose.append((block, self.heading_text))
        self.describe(block, current)

    def conditional_item(self, item: Block, current: _Container) -> _Container | None:
        """A list item "**Restore the database (if needed)**:" with a command under it: the
        command is a procedure, and in its place a gate asks whether it was needed (an "Or
        ..." / "If ... fails" item: one choice of a gate), never a step that always runs."""
        if current.kind not in ("phase", "rollback", "top"):
            return None
        found = self.item_procedures.get(id(item))
        if found is not None:
            return found
        rule = classify(item.text, top=False, exclude=frozenset({"escalation"}))
        if rule is None or rule.place not in (Place.OPTIONAL, Place.ALTERNATIVE):
            return None
        name = clean_title(item.text)
        outer = current.name[:1].upper() + current.name[1:]
        found = self.container("procedure", f"{outer}: {name}" if outer else name, item.line)
        if rule.place is Place.OPTIONAL:
            self.add(current, _if_needed(found.name), item.line)
        else:
            self.choice(current, found, 15, item.line)
        self.item_procedures[id(item)] = found
        return found

    def label_section(self, block: Block, label: str) -> bool:
        """A bold "**Method 2: ...**" line starts an alternative, as a heading would."""
        headings = [f.level for f in self.stack if not f.synthetic]
        if block.parent is not None or not headings or not is_label_section(label):
            return False
        if re.match(r"^\W*(?:or|alternatively)\b", label, re.I):
            self.first_alternative(headings[-1])
        text = block.text.strip()
        self.heading(Block("heading", block.line, block.end, text, headings[-1] + 1))
        self.stack[-1].synthetic = True
        self.label = None
        return True

    def first_alternative(self, level: int) -> None:
        """ "Or via kubectl:" after "Via GitHub Actions:": the steps under the first label are
        the first alternative, moved to a procedure of their own beside the "Or" one."""
        if self.last_label is None or not self.stack:
            return
        label, where, start, line = self.last_label
        self.last_label = None
        if where is not self.stack[-1].container or len(where.steps) <= start:
            return
        first = self.container("procedure", f"{self.stack[-1].name}: {label}", line)
        moved = where.steps[start:]
        del where.steps[start:]
        for step in moved:
            first.names.add(str(step.get("name")))
        first.steps = moved
        kept: list[tuple[PathKey, tuple[int, int], bool]] = []
        for path, at, is_key in where.positions:
            index = int(path[0])
            if index >= start:
                first.positions.append(((index - start, *path[1:]), at, is_key))
            else:
                kept.append((path, at, is_key))
        where.positions = kept
        self.choice(where, first, level, line)

    def container(self, kind: str, name: str, line: int) -> _Container:
        if kind == "rollback":
            existing = next((c for c in self.containers if c.kind == "rollback"), None)
            if existing:
                return existing
        if kind == "procedure":
            name = self.unique(name, self.procedure_names)
        found = _Container(kind, name, line)
        self.containers.append(found)
        return found

    def describe(self, block: Block, where: _Container) -> None:
        if where.kind in ("phase", "procedure", "top", "note"):
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
        names = self.names if where.kind != "procedure" else where.names
        step["name"] = self.unique(str(step.get("name") or "step"), names)
        if self.env is not None and where.kind in ("phase", "rollback", "top"):
            step.setdefault("environments", [self.env])
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
            kept = "a {skip} block: documentation only, never run"
            self.notes.append(Note(block.line, block.end, "skipped block", block.text, kept))
            return
        if block.lang in YAML_LANGS and attrs.pop("step", False):
            self.yaml_step(block, where, attrs)
            return
        if block.lang in SHELL_LANGS and block.attrs is not None:
            command = strip_prompt(block.text, block.lang).strip("\n")
            step = {"name": attrs.pop("name", None) or context, "run": command, **attrs}
            keys = {k: (block.line, c) for k, c in block.attr_cols.items() if k in step}
            keys["run"] = (block.line + 1, 1)
            self.add(where, step, block.line, 1, keys)
            return
        label = self.label if self.fresh_label else None
        if where.kind == "note" or is_example_output(block.lang, block.text, label):
            kind = "example output" if where.kind != "note" else "code in a note section"
            where.description.append(f"```{block.lang}\n{block.text}\n```")
            where.notes.append(Note(block.line, block.end, kind, block.text.strip()))
            return
        if block.lang not in SHELL_LANGS or block.attrs is not None:
            what = f"code block ({block.lang or 'no language'})"
            where.notes.append(Note(block.line, block.end, what, block.text.strip()))
            return
        self.manual_steps(block, where, context)

    def yaml_step(self, block: Block, where: _Container, attrs: dict[str, Any]) -> None:
        src = parse_yaml(block.text, self.file, line_offset=block.line)
        if not isinstance(src.data, dict):
            raise RunbookError(
                "a ```yaml {step} block must hold one step mapping",
                file=self.file,
                line=block.line + 1,
                column=1,
                hint="for example: name: health\\nhttp: http://127.0.0.1/health",
            )
        step = {**src.data, **attrs}
        keys = {k: (block.line, c) for k, c in block.attr_cols.items() if k in attrs}
        self.add(where, step, block.line, 1, keys, src.positions)

    def manual_steps(self, block: Block, where: _Container, context: str) -> None:
        """An unannotated shell block: one step done by hand per comment and its commands."""
        commands, leftovers = split_shell(strip_prompt(block.text, block.lang), block.line + 1)
        if self.automate:
            commands = [one for cmd in commands for one in _one_per_command(cmd)]
        for cmd in commands:
            if not cmd.command.strip():
                continue
            if is_example_output("", cmd.command, cmd.name) or OUTPUT_LINE.match(cmd.command):
                self.pasted_output(cmd, where)
                continue
            description = list(cmd.description)
            if cmd.name and ASIDE.match(cmd.name):  # "# NOTE: ..." says something, names nothing
                description.append(cmd.name)
                cmd = ShellCommand(cmd.line, cmd.command_line, None, [], cmd.command, cmd.after)
            made: dict[str, Any] = {"name": step_name(cmd, context)}
            watcher = watcher_offset(cmd.command)
            if watcher is not None:
                made["timeout"] = WATCHER_TIMEOUT
                description.append(f"runs until stopped: given a {WATCHER_TIMEOUT} timeout")
                at = cmd.command_line + watcher
                where.notes.append(Note(at, at, "watcher", cmd.command.split("\n")[watcher]))
            description += cmd.after
            if description:
                made["description"] = "\n".join(description)
            made["run"] = literal(cmd.command)
            made["manual"] = True
            self.add(where, made, cmd.line, 1, {"run": (cmd.command_line, 1)})
            self.commands.append((made, cmd.command))
        if leftovers and commands and where.steps:
            last = where.steps[-1]
            extra = "\n".join(text for _, text in leftovers)
            last["description"] = (str(last.get("description", "")) + "\n" + extra).strip()
        elif leftovers:
            text = "\n".join(t for _, t in leftovers)
            where.notes.append(
                Note(leftovers[0][0], leftovers[-1][0], "comments without a command", text)
            )

    def pasted_output(self, cmd: ShellCommand, where: _Container) -> None:
        """Output pasted under its command ("# Expected response:" then JSON): kept as text
        beside the step before it, never run."""
        text = cmd.command.strip()
        label = f"{cmd.name.rstrip(':')}:\n" if cmd.name else ""
        if where.steps and "run" in where.steps[-1]:
            last = where.steps[-1]
            last["description"] = "\n".join(
                t for t in (str(last.get("description") or ""), label + text) if t
            )
        else:
            where.description.append(label + text)
        end = cmd.command_line + text.count("\n")
        where.notes.append(Note(cmd.command_line, end, "example output", text))

    def flush_gate(self, items: list[Block], where: _Container, name: str) -> None:
        if not items:
            return
        if where.kind == "note":  # a checklist in a reference or strategy section: its text
            for item in items:
                text = plain_text(re.sub(r"\s+", " ", item.text).strip())
                where.description.append(f"- [ ] {text}")
                where.notes.append(Note(item.line, item.end, "checklist item", text))
            return
        gate_items: list[Any] = []
        for item in items:
            text = plain_text(re.sub(r"\s+", " ", item.text).strip())
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
        self.keep_notes(data)
        if "environments" not in data:
            data["environments"] = self.environments()
        self.restrict(data["environments"])
        ordered = [c for c in self.containers if c.first]
        ordered += [c for c in self.containers if not c.first]
        self.place(data, ordered)
        self.notes.sort(key=lambda n: n.line)
        return Conversion(
            data, pos, self.notes, self.prose, self.text, self.sections, self.commands
        )

    def keep_notes(self, data: dict[str, Any]) -> None:
        """A note section's text goes to the description of the section around it."""
        extra: list[str] = []
        for c in self.containers:
            if c.kind != "note":
                continue
            text = "\n\n".join(c.description)
            into = c.into if c.into is not None and c.into is not self.top else None
            (into.description if into is not None else extra).append(text)
            where = f"phase or procedure '{into.name}'" if into else "the runbook's description"
            kept = f"note section '{c.name}', in the description of {where}"
            self.notes.extend(Note(n.line, n.end, n.kind, n.text, kept) for n in c.notes)
        if extra:
            data["description"] = "\n\n".join([str(data.get("description") or ""), *extra])
            data["description"] = data["description"].strip()

    def restrict(self, environments: Any) -> None:
        """Name a heading's environment as the runbook declares it ("production" -> "prod");
        one it does not declare stays, and validation refuses it at the step's line. A
        rollback step whose command names one environment only runs in that one."""
        names = [str(n) for n in environments] if isinstance(environments, dict) else []
        for c in self.containers:
            for n, step in enumerate(c.steps):
                envs = step.get("environments")
                if isinstance(envs, list):
                    step["environments"] = [_declared(str(e), names) for e in envs]
                elif c.kind == "rollback" and len(names) > 1:
                    self.named_environment(c, n, step, names)

    def named_environment(
        self, where: _Container, index: int, step: dict[str, Any], names: list[str]
    ) -> None:
        """``kubectl rollout undo -n prod`` in a shared rollback: production's only."""
        named = commands_environment(str(step.get("run") or ""))
        env = _declared(named, names) if named else None
        if env is None or env not in names:
            return
        step["environments"] = [env]
        line = next((at[0] for p, at, k in where.positions if p == (index,) and not k), 0)
        kept = f"rollback step '{step.get('name')}' runs in {env} only: its command names it"
        self.notes.append(Note(line, line, "names an environment", str(step.get("run")), kept))

    def place(self, data: dict[str, Any], containers: list[_Container]) -> None:
        pos = self.positions
        phases = list(data.get("phases") or [])
        rollback = list(data.get("rollback") or [])
        procedures = dict(data.get("procedures") or {})
        for c in containers:
            if c.kind == "note" or (c.kind == "procedure" and not c.steps and not c.description):
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
                kept: str | None = f"description of phase '{c.name}'"
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
            self.notes.extend(_kept(n, kept) for n in c.notes)
        for key, value in (("phases", phases), ("rollback", rollback), ("procedures", procedures)):
            if value:
                data[key] = value

    def environments(self) -> dict[str, Any]:
        """The environments headings about deploying name, in promotion order."""
        found: dict[str, Any] = {}
        for env in ("development", "staging", "production"):
            line = self.deploying.get(env)
            if line is not None:
                found[env] = {"description": f"inferred from the heading at line {line}"}
                self.positions.values[("environments", env)] = (line, 1)
        if "production" not in found:
            found["production"] = {
                "description": "inferred: staging comes before production"
                if "staging" in found
                else "the only environment the document names"
            }
        return found


def _one_per_command(cmd: ShellCommand) -> list[ShellCommand]:
    """Several recognised commands under one comment: one step each (same name, numbered)."""
    parts = split_recognised(cmd.command)
    if parts is None:
        return [cmd]
    first = cmd.command_line
    return [
        ShellCommand(
            cmd.line if n == 0 else first + offset,
            first + offset,
            cmd.name,
            cmd.description if n == 0 else [],
            part,
            cmd.after if n == len(parts) - 1 else [],
        )
        for n, (offset, part) in enumerate(parts)
    ]


def _declared(env: str, names: list[str]) -> str:
    if env in names:
        return env
    same = [n for n in names if n[:4].lower() == env[:4]]
    return same[0] if len(same) == 1 else env


def _if_needed(procedure: str) -> dict[str, Any]:
    """The gate left where a section "(if needed)" was: it was done, or it was not needed."""
    item = (
        f"'{procedure}' was carried out if it was needed "
        "(runwright run-procedure RUNBOOK NAME), or it was not needed"
    )
    return {"name": IF_NEEDED_GATE + procedure, "gate": {"items": [item]}}


def _kept(note: Note, where: str | None) -> Note:
    if note.kind == "example output":
        where = f"example output, not run; {where}" if where else "example output, not run"
    elif note.kind == "watcher":
        return Note(note.line, note.end, note.kind, note.text, "runs until stopped: a timeout")
    elif note.kind.startswith(("code", "comments")):
        where = None
    return Note(note.line, note.end, note.kind, note.text, where)


def convert(text: str, file: str, *, automate: bool = False) -> Conversion:
    """Read a Markdown runbook; raise RunbookError at ``file:line:col`` for what cannot be read.
    With ``automate`` (``import --automate``), a block of commands the recognition table knows
    gives one step per command."""
    return _Reader(text.replace("\r\n", "\n"), file, automate).read()


def parse_markdown(text: str, file: str) -> Source:
    """The loader's entry point: a Markdown runbook as a ``Source`` with Markdown positions."""
    conversion = convert(text, file)
    return Source(file=file, text=text, data=conversion.data, positions=conversion.positions)


__all__ = ["Block", "Conversion", "Note", "ShellCommand", "convert", "parse_markdown", "scan"]
__all__ += ["clean_title", "split_shell"]
