"""Where each ``{{ }}`` of a shell command lands, so a quoted value is never put inside quotes.

Values put into shell commands are quoted with ``shlex.quote``: ``'it'"'"'s'``. That is
right where the value is a word of the command (``echo {{ site }}``, ``--out={{ dir }}/x``,
inside ``$( )``), and wrong everywhere the shell reads the text differently: inside ``"..."``
the single quotes are literal and ``$(id)`` in the value runs; inside ``'...'`` the value
closes the quote; inside backticks, ``${...}``, ``$((...))``, a heredoc or a comment (which
ends at a newline of the value) it is not quoted at all. Rather than a second quoting scheme
per context, a template in such a place is refused when the runbook loads, with the fix:
pass the value by environment (``env: {SITE: "{{ site }}"}`` and ``"$SITE"``).

The scan reads the template's source, not a rendering: each ``{{ }}`` becomes a marker
character and the text between them is followed through the shell's quoting rules (quotes,
backslashes, ``$(``, ``${``, ``$((``, backticks, comments, heredocs), as bash reads them. No
maintained Python library reports the quoting context of a position (``shlex`` drops it;
bashlex is GPL-3.0, which this Apache-2.0 project cannot take), so the rules are here, and
the tests run every context through a real bash.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment()
_MARK = "\ue000"
_WORD_END = " \t\n;&|()<>"
FIX = (
    'pass the value by environment instead: env: {NAME: "{{ value }}"} on the step, and '
    '"$NAME" in the command (a value is quoted for you only where it is a word of its own)'
)


@dataclass(frozen=True)
class Misplaced:
    """A ``{{ }}`` expression (its source text) that lands inside ``context``."""

    expression: str
    context: str


def misplaced(template: str) -> list[Misplaced]:
    """Every ``{{ }}`` of ``template`` that lands inside quotes or another place where a
    shell-quoted value is not one inert word. ``| raw`` expressions and constants are the
    author's own text and are left alone (``raw`` refuses values from outside anyway)."""
    if "{{" not in template:
        return []
    try:
        view, expressions = _shell_view(template)
    except TemplateError:
        return []  # a syntax error is reported elsewhere, with its own message
    contexts = _Scanner(view).contexts()
    return [
        Misplaced(text, context)
        for text, context in zip(expressions, contexts, strict=True)
        if context is not None and not _authored(text)
    ]


def _shell_view(template: str) -> tuple[str, list[str]]:
    """The template's literal text with each ``{{ }}`` replaced by a marker, and the source
    of each expression, in order. Tags and comments produce no text."""
    out: list[str] = []
    expressions: list[str] = []
    current: list[str] | None = None
    for _, kind, value in _ENV.lex(template):
        if kind == "variable_begin":
            current = [value]
        elif kind == "variable_end" and current is not None:
            current.append(value)
            expressions.append("".join(current).strip())
            out.append(_MARK)
            current = None
        elif current is not None:
            current.append(value)
        elif kind == "data":
            out.append(value)
    return "".join(out), expressions


def _authored(expression: str) -> bool:
    try:
        tree = _ENV.parse(expression)
    except TemplateError:
        return False
    out = next(iter(tree.find_all(nodes.Output)), None)
    node = out.nodes[0] if out is not None and len(out.nodes) == 1 else None
    if isinstance(node, nodes.Filter) and node.name == "raw":
        return True
    return not any(True for _ in tree.find_all(nodes.Name))


class _Scanner:
    """Follows bash's quoting through ``text``; ``contexts()`` names, for each marker, the
    quoting it lands in (None: a word of a command, where shell quoting holds)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.found: list[str | None] = []
        self.heredocs: list[tuple[str, bool]] = []

    def contexts(self) -> list[str | None]:
        self._command(top=True)
        return self.found

    def _peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def _mark(self, context: str | None) -> None:
        self.found.append(context)
        self.i += 1

    def _command(self, *, top: bool) -> None:
        """A command list, at the top or inside ``$( )``; returns after its closing ``)``."""
        depth = 0
        while self.i < len(self.text):
            c = self._peek()
            word_start = self.i == 0 or self.text[self.i - 1] in _WORD_END
            if c == _MARK:
                self._mark(None)
            elif c == "\\":
                self.i += 1
                self._escaped("a backslash")
            elif c == "'":
                self.i += 1
                self._single("single quotes")
            elif c == '"':
                self.i += 1
                self._double()
            elif c == "`":
                self.i += 1
                self._backticks()
            elif c == "$":
                self._dollar()
            elif c == "#" and word_start:
                self._comment()
            elif c == "\n":
                self.i += 1
                self._heredoc_bodies()
            elif c == "<" and self.text.startswith("<<", self.i):
                self._heredoc_start()
            elif c == "(" and self._peek(1) == "(" and word_start:
                self.i += 2
                self._until_close("))", "arithmetic (( ))")
            elif c == "(":
                depth += 1
                self.i += 1
            elif c == ")":
                self.i += 1
                if depth == 0 and not top:
                    return
                depth = max(0, depth - 1)
            else:
                self.i += 1

    def _escaped(self, context: str) -> None:
        if self._peek() == _MARK:
            self._mark(context)
        elif self.i < len(self.text):
            self.i += 1

    def _single(self, context: str, *, escapes: bool = False) -> None:
        while self.i < len(self.text):
            c = self._peek()
            if c == _MARK:
                self._mark(context)
            elif c == "\\" and escapes:
                self.i += 1
                self._escaped(context)
            else:
                self.i += 1
                if c == "'":
                    return

    def _double(self) -> None:
        while self.i < len(self.text):
            c = self._peek()
            if c == _MARK:
                self._mark("double quotes")
            elif c == "\\":
                self.i += 1
                self._escaped("double quotes")
            elif c == "`":
                self.i += 1
                self._backticks()
            elif c == "$":
                self._dollar(quoted=True)
            else:
                self.i += 1
                if c == '"':
                    return

    def _backticks(self) -> None:
        while self.i < len(self.text):
            c = self._peek()
            if c == _MARK:
                self._mark("backticks")
            elif c == "\\":
                self.i += 1
                self._escaped("backticks")
            else:
                self.i += 1
                if c == "`":
                    return

    def _dollar(self, *, quoted: bool = False) -> None:
        nxt = self._peek(1)
        if nxt == "(" and self._peek(2) == "(":
            self.i += 3
            self._until_close("))", "arithmetic $(( ))")
        elif nxt == "(":
            self.i += 2
            self._command(top=False)
        elif nxt == "{":
            self.i += 2
            self._until_close("}", "${...}")
        elif nxt == "'" and not quoted:
            self.i += 2
            self._single("$'...' quotes", escapes=True)
        elif nxt == _MARK:
            self.i += 1
            self._mark("a $ right before it")
        else:
            self.i += 1

    def _until_close(self, close: str, context: str) -> None:
        """Inside ``${ }`` or ``$(( ))``: every marker is misplaced; nesting is counted."""
        opener = "{" if close == "}" else "("
        depth = 0
        while self.i < len(self.text):
            c = self._peek()
            if c == _MARK:
                self._mark(context)
                continue
            if c == opener:
                depth += 1
            elif self.text.startswith(close, self.i) and depth == 0:
                self.i += len(close)
                return
            elif c == close[0]:
                depth = max(0, depth - 1)
            self.i += 1

    def _comment(self) -> None:
        while self.i < len(self.text) and self._peek() != "\n":
            if self._peek() == _MARK:
                self._mark("a comment (a newline in the value would end it)")
            else:
                self.i += 1

    def _heredoc_start(self) -> None:
        self.i += 2
        if self._peek() == "<":  # a here-string: <<< word
            self.i += 1
            return
        strip = self._peek() == "-"
        if strip:
            self.i += 1
        while self._peek() in (" ", "\t") and self._peek():
            self.i += 1
        word: list[str] = []
        while self.i < len(self.text) and self._peek() not in _WORD_END:
            c = self._peek()
            if c not in "'\"\\":
                word.append(c)
            self.i += 1
        if word:
            self.heredocs.append(("".join(word), strip))

    def _heredoc_bodies(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for delimiter, strip in pending:
            while self.i < len(self.text):
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                line = self.text[self.i : end]
                self.found.extend("a heredoc" for _ in range(line.count(_MARK)))
                self.i = min(end + 1, len(self.text))
                if (line.lstrip("\t") if strip else line) == delimiter:
                    break
