"""Split a shell block people wrote by hand into the commands under each of its comments.

A runbook's ``bash`` block usually reads "# Backup the database / pg_dump ... / # Verify it /
pg_restore --list ...": each comment names the commands under it. Splitting has to keep a
command whole across ``\\`` continuations, quotes, ``if``/``for`` blocks and heredocs, so this
module follows just enough shell syntax to know when a command is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEREDOC = re.compile(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")
_OPEN_WORDS = {"if": 1, "fi": -1, "case": 1, "esac": -1, "do": 1, "{": 1, "}": -1}
_OPEN_WORDS["done"] = -1  # not a status

@dataclass
class ShellCommand:
    """Commands under one comment: the comment names them, earlier comments describe them."""

    line: int  # first line of the name comment, or of the command
    command_line: int
    name: str | None
    description: list[str]
    command: str
    after: list[str] = field(default_factory=list)  # comments right below its commands


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
    below = 0  # how many of ``comments`` sit right below the previous command (no blank line)
    touching = False
    current: list[str] = []
    for offset, line in enumerate(lines):
        number = first_line + offset
        stripped = line.strip()
        if state.complete and stripped.startswith("#"):
            if current and out:
                out[-1].command = "\n".join(current).strip("\n")
                current = []
            comments.append((number, stripped.lstrip("#").strip()))
            below += 1 if touching and out else 0
            continue
        if state.complete and not stripped:
            touching = False
            if current:
                current.append("")
            continue
        if state.complete and not current:
            name_at = len(comments) - 1
            if out and below:
                out[-1].after += [c for _, c in comments[: min(below, name_at)]]
            earlier = comments[min(below, max(name_at, 0)) : name_at] if comments else []
            out.append(
                ShellCommand(
                    comments[-1][0] if comments else number,
                    number,
                    comments[-1][1] if comments else None,
                    [c for _, c in earlier],
                    "",
                )
            )
            comments, below = [], 0
        current.append(line)
        state.feed(line)
        touching = True
    if current and out:
        out[-1].command = "\n".join(current).strip("\n")
    return out, comments
