"""YAML with positions: every value of a runbook remembers the line and column it came from.

Validation errors are only useful when they point at the spot to fix
(``runbook.yaml:14:5: unknown key 'tiemout'``), so the loader walks PyYAML's node tree
beside the parsed data and records where each key and value starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runwright.errors import RunbookError
from runwright.model.yaml_limits import check_nodes

PathKey = tuple[str | int, ...]


@dataclass
class Positions:
    """1-based (line, column) of keys and values, by path from the document root."""

    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    offset: int = 0

    def of(self, path: PathKey, *, key: bool = False) -> tuple[int, int] | None:
        """Position of ``path`` (its key when ``key``), else of the nearest ancestor."""
        probe = tuple(path)
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return line + self.offset, col
            if key and probe in self.keys:
                line, col = self.keys[probe]
                return line + self.offset, col
            if not probe:
                return None
            probe = probe[:-1]
            key = False


@dataclass
class Source:
    """A parsed document: its data, where each piece came from, and the file it was read from."""

    file: str
    text: str
    data: Any
    positions: Positions

    def error(
        self, message: str, path: PathKey = (), *, key: bool = False, hint: str | None = None
    ) -> RunbookError:
        pos = self.positions.of(path, key=key)
        return RunbookError(
            message,
            file=self.file,
            line=pos[0] if pos else None,
            column=pos[1] if pos else None,
            hint=hint,
        )


def _walk(node: yaml.Node, path: PathKey, pos: Positions, file: str) -> None:
    pos.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise RunbookError(
                    f"duplicate key '{key}' (first at line {seen[key] + pos.offset})",
                    file=file,
                    line=line + pos.offset,
                    column=key_node.start_mark.column + 1,
                    hint="remove one of them; YAML would silently keep only the last",
                )
            seen[key] = line
            child = (*path, key)
            pos.keys[child] = (line, key_node.start_mark.column + 1)
            _walk(value_node, child, pos, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), pos, file)


_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


def _compose(text: str, file: str, line_offset: int) -> tuple[Any, yaml.Node | None]:
    """Compose the node graph, check its limits, then build the data from those same nodes."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_nodes(node, loader, file, line_offset)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def parse_yaml_documents(text: str, file: str) -> list[Any]:
    """Every document of a multi-document file (a Kubernetes manifest), each within the same
    node limits as a runbook; a syntax error or a limit is a RunbookError at its line."""
    loader = _LOADER(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            check_nodes(node, loader, file)
            docs.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RunbookError(
            f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}",
            file=file,
            line=(mark.line + 1) if mark else None,
            column=(mark.column + 1) if mark else None,
            hint="check indentation and quoting around this spot",
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise RunbookError(f"YAML error: {exc}", file=file, line=1, column=1) from None
    finally:
        loader.dispose()
    return docs


def parse_yaml(text: str, file: str, *, line_offset: int = 0) -> Source:
    """Parse ``text``; a syntax error becomes a RunbookError at the offending line."""
    positions = Positions(offset=line_offset)
    try:
        data, node = _compose(text, file, line_offset)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise RunbookError(
            f"YAML syntax error: {problem}",
            file=file,
            line=(mark.line + 1 + line_offset) if mark else None,
            column=(mark.column + 1) if mark else None,
            hint="check indentation and quoting around this spot",
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise RunbookError(
            f"YAML error: {exc}", file=file, line=1 + line_offset, column=1
        ) from None
    if node is not None:
        _walk(node, (), positions, file)
    return Source(file=file, text=text, data=data, positions=positions)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError(
            "file not found", file=str(path), hint="check the path; runwright validate FILE"
        ) from None
    except IsADirectoryError:
        raise RunbookError("is a directory, not a runbook file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        data = bytes(exc.object)
        raise RunbookError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=str(path),
            line=data.count(b"\n", 0, exc.start) + 1,
            column=exc.start - data.rfind(b"\n", 0, exc.start),
            hint="save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise RunbookError(f"cannot read file: {exc.strerror}", file=str(path)) from None
