"""Markdown as a flat list of blocks with line numbers, read by markdown-it-py.

The mapper (``runwright.model.markdown``) needs only a few facts about each block: its kind,
its first and last line, its text, the heading level or list indent, a fence's language and
``{attributes}``, and the list item it is nested in. markdown-it-py parses CommonMark (and
tables) in linear time and gives every block token its source lines, so the rules of the
Markdown format (fences inside lists, lazy continuation lines, setext headings) are its
business; this module only flattens its tokens into ``Block`` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from runwright.errors import RunbookError

_CHECKBOX = re.compile(r"^\[( |x|X)\]\s+(.*)$", re.S)
_OPEN_BRACE = re.compile(r"(?<![{\S])\{(?!\{)")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_BARE = re.compile(r"[^\s}]+")
_PARSER = MarkdownIt("commonmark").enable("table")


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
        for match in _OPEN_BRACE.finditer(text):
            parsed = Attributes._parse(text, match.start() + 1)
            if parsed is None:
                continue
            attrs, cols, end = parsed
            if text[end:].strip():
                continue
            start = match.start()
            return text[:start].rstrip(), attrs, {k: base_col + c for k, c in cols.items()}
        if re.search(r"(?<![{\S])\{(?!\{)[A-Za-z_]", text) and text.rstrip().endswith("}"):
            raise RunbookError(
                "cannot read the attributes in braces",
                file=file,
                line=line,
                column=base_col + text.rfind("{"),
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
            match = _KEY.match(text, pos)
            if not match:
                return None
            key, start, pos = match.group(0), match.start(), match.end()
            value: Any = True
            if pos < n and text[pos] == "=":
                read = _value(text, pos + 1)
                if read is None:
                    return None
                value, pos = read
            attrs[key] = value
            cols[key] = start


def _value(text: str, pos: int) -> tuple[Any, int] | None:
    n = len(text)
    if pos < n and text[pos] in "\"'":
        quote, pos, chars = text[pos], pos + 1, []
        while pos < n and text[pos] != quote:
            if text[pos] == "\\" and pos + 1 < n and text[pos + 1] in (quote, "\\"):
                pos += 1
            chars.append(text[pos])
            pos += 1
        return ("".join(chars), pos + 1) if pos < n else None
    match = _BARE.match(text, pos)
    return (_typed(match.group(0)), match.end()) if match else None


def _typed(raw: str) -> Any:
    if raw.lower() in ("true", "yes"):
        return True
    if raw.lower() in ("false", "no"):
        return False
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw


class _Flattener:
    """Walks markdown-it's token stream once, keeping the list items it is inside."""

    def __init__(self, lines: list[str], file: str, offset: int) -> None:
        self.lines = lines
        self.file = file
        self.offset = offset
        self.blocks: list[Block] = []
        self.items: list[Block | None] = []  # one entry per open list item (None: no text yet)
        self.skip_depth = 0

    def raw(self, start: int, end: int) -> str:
        return "\n".join(self.lines[start:end])

    def indent(self, index: int) -> int:
        line = self.lines[index] if index < len(self.lines) else ""
        return len(line) - len(line.lstrip())

    def outer_item(self) -> Block | None:
        return next((item for item in self.items if item is not None), None)

    def add(self, block: Block) -> Block:
        block.line += self.offset
        block.end += self.offset
        self.blocks.append(block)
        return block

    def token(self, tokens: list[Token], i: int) -> int:
        """Handle ``tokens[i]``; return the index of the next token to look at."""
        tok = tokens[i]
        start, end = tok.map if tok.map else (0, 0)
        if tok.type in ("table_open", "blockquote_open"):
            kind = "table" if tok.type == "table_open" else "quote"
            self.add(Block(kind, start + 1, end, self.raw(start, end), self.indent(start)))
            return _after_close(tokens, i)
        if tok.type == "heading_open":
            text = tokens[i + 1].content
            self.add(Block("heading", start + 1, end, text, int(tok.tag[1])))
            return i + 3
        if tok.type == "list_item_open":
            self.items.append(None)
        elif tok.type == "list_item_close":
            self.items.pop()
        elif tok.type in ("fence", "code_block"):
            self.fence(tok, start, end)
        elif tok.type == "hr":
            self.add(Block("rule", start + 1, end, self.raw(start, end).strip()))
        elif tok.type == "html_block":
            self.add(Block("html", start + 1, end, self.raw(start, end).strip()))
        elif tok.type == "paragraph_open":
            self.paragraph(tokens[i + 1], start, end)
            return i + 3
        return i + 1

    def paragraph(self, inline: Token, start: int, end: int) -> None:
        if self.items and self.items[-1] is None:
            self.item(inline.content, start, end)
            return
        parent = self.outer_item()
        text = self.raw(start, end)
        self.add(Block("paragraph", start + 1, end, text, self.indent(start), parent=parent))

    def item(self, content: str, start: int, end: int) -> None:
        text = content.replace("\n", " ")
        indent = self.indent(start)
        parent = self.outer_item()
        block = Block("item", start + 1, end, text, indent, parent=parent)
        checkbox = _CHECKBOX.match(text)
        if checkbox:
            block.checkbox = True
            line = self.lines[start]
            first = checkbox.group(2).split(" ")[0]
            text_col = line.find(first, indent) + 1 if first else indent + 1
            block.text, block.attrs, block.attr_cols = Attributes.split(
                checkbox.group(2), start + 1 + self.offset, self.file, max(text_col, 1)
            )
        self.items[-1] = self.add(block)

    def fence(self, tok: Token, start: int, end: int) -> None:
        info = tok.info.strip()
        lang, _, rest = info.partition(" ") if not info.startswith("{") else ("", "", info)
        line = self.lines[start] if start < len(self.lines) else ""
        rest_col = line.rfind(rest) + 1 if rest else 0
        attrs: dict[str, Any] | None = None
        cols: dict[str, int] = {}
        if rest:
            _, attrs, cols = Attributes.split(rest, start + 1 + self.offset, self.file, rest_col)
        text = tok.content[:-1] if tok.content.endswith("\n") else tok.content
        if tok.type == "code_block":
            lang = "indented"
        self.add(
            Block(
                "fence",
                start + 1,
                end,
                text,
                self.indent(max(start, 0)),
                lang.lower(),
                attrs,
                cols,
                parent=self.outer_item(),
            )
        )


def _after_close(tokens: list[Token], i: int) -> int:
    """The index after the token that closes the container ``tokens[i]`` opens."""
    close = tokens[i].type.replace("_open", "_close")
    depth = tokens[i].level
    j = i + 1
    while j < len(tokens) and not (tokens[j].type == close and tokens[j].level == depth):
        j += 1
    return j + 1


def scan(text: str, file: str, start: int = 0) -> list[Block]:
    """Split Markdown ``text`` (its lines from index ``start``) into blocks."""
    lines = text.split("\n")[start:]
    tokens = _PARSER.parse("\n".join(lines))
    flat = _Flattener(lines, file, start)
    i = 0
    while i < len(tokens):
        i = flat.token(tokens, i)
    return flat.blocks


def plain_text(markdown: str) -> str:
    """Inline Markdown as the text a reader sees: ``**bold**`` -> bold, `code` -> code."""
    if not any(mark in markdown for mark in "*_`[<!\\&"):
        return markdown
    out: list[str] = []
    for token in _PARSER.parseInline(markdown):
        for child in token.children or []:
            if child.type in ("text", "code_inline", "html_inline"):
                out.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                out.append(" ")
            elif child.type == "image":
                out.append(child.content)
    return "".join(out).strip() or markdown
