"""The runbooks ``serve`` offers: every YAML or Markdown runbook in one directory, by name.

Files are read again when they change, so editing a runbook needs no restart; a broken file
is listed with its error instead of hiding the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runwright.app.runtime.runtime import read_runbook
from runwright.errors import RunwrightError
from runwright.model.loader import Runbook

SUFFIXES = (".yaml", ".yml", ".md")


@dataclass(frozen=True)
class Entry:
    path: Path
    runbook: Runbook | None
    error: str = ""


class Registry:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[float, Entry]] = {}

    def entries(self) -> list[Entry]:
        if self.directory is None or not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.iterdir()):
            if path.suffix in SUFFIXES and path.is_file():
                out.append(self._read(path))
        return out

    def _read(self, path: Path) -> Entry:
        mtime = path.stat().st_mtime
        cached = self._cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            entry = Entry(path, read_runbook(path))
        except RunwrightError as exc:
            entry = Entry(path, None, str(exc))
        self._cache[path] = (mtime, entry)
        return entry

    def get(self, name: str) -> Entry | None:
        for e in self.entries():
            if e.runbook is not None and e.runbook.name == name:
                return e
        return None
