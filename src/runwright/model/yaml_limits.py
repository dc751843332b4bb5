"""Limits on a YAML document's node graph, checked before any value is built from it.

YAML aliases share nodes, so a 2 KB file can describe billions of values (the "billion
laughs" bomb), and an anchor can even contain itself. Everything after parsing (positions,
validation, templates) walks the expanded tree, so the limits are enforced on the composed
node graph first, where sharing is still visible: how many aliases, how many nodes the
document would expand to, how deep it nests, how long a number is. Each refusal names the
node's line and column. Real runbooks are far inside every limit.
"""

from __future__ import annotations

from typing import Any

import yaml

from runwright.errors import RunbookError

MAX_ALIASES = 1_000
MAX_NODES = 200_000
MAX_DEPTH = 200
MAX_DIGITS = 30

_INT = "tag:yaml.org,2002:int"
_BUILT = {"tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Checker:
    def __init__(self, loader: Any, file: str, offset: int) -> None:
        self.loader = loader
        self.file = file
        self.offset = offset
        self.sizes: dict[int, int] = {}
        self.aliases = 0

    def error(self, node: yaml.Node, message: str, hint: str) -> RunbookError:
        return RunbookError(
            message,
            file=self.file,
            line=node.start_mark.line + 1 + self.offset,
            column=node.start_mark.column + 1,
            hint=hint,
        )

    def scalar(self, node: yaml.Node) -> None:
        if not isinstance(node, yaml.ScalarNode):
            return
        if node.tag == _INT:
            digits = sum(ch.isdigit() for ch in str(node.value))
            if digits > MAX_DIGITS:
                raise self.error(
                    node,
                    f"number too long ({digits} digits)",
                    "quote it if it is text, e.g. '\"1234...\"'",
                )
        if node.tag == _INT or node.tag in _BUILT:
            try:
                self.loader.construct_object(node)
            except (ValueError, TypeError, OverflowError, yaml.YAMLError) as exc:
                raise self.error(
                    node, f"invalid value {str(node.value)[:40]!r}: {exc}", "quote it as text"
                ) from None

    def check(self, root: yaml.Node) -> None:
        on_path: set[int] = set()
        stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
        while stack:
            node, depth, finished = stack.pop()
            key = id(node)
            if finished:
                on_path.discard(key)
                size = 1 + sum(self.sizes[id(c)] for c in _children(node))
                self.sizes[key] = size
                if size > MAX_NODES:
                    raise self.error(
                        node,
                        f"this document expands to more than {MAX_NODES:,} values "
                        "through YAML aliases",
                        "write the values out, or use fewer nested aliases (*name)",
                    )
                continue
            if key in self.sizes:
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise self.error(
                        node,
                        f"more than {MAX_ALIASES:,} YAML aliases",
                        "write the values out instead of referring to anchors",
                    )
                continue
            if key in on_path:
                raise self.error(
                    node, "a YAML anchor refers to itself", "an alias must not contain itself"
                )
            if depth > MAX_DEPTH:
                raise self.error(
                    node, f"nested more than {MAX_DEPTH} levels deep", "flatten the structure"
                )
            self.scalar(node)
            on_path.add(key)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in _children(node))


def check_nodes(root: yaml.Node, loader: Any, file: str, offset: int = 0) -> None:
    """Raise RunbookError at the first node over a limit. ``loader`` builds scalars that can
    fail (numbers, dates) so their errors carry a position too."""
    _Checker(loader, file, offset).check(root)
