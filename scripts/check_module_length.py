"""Fail for any module in src/ over 800 lines, naming it and its length.

A module past a few screens holds more than one concept; a reader should be able to name the
room each module is. Alembic migrations are exempt (generated, read once).

Usage: check_module_length.py [PATH...]   (default: src/runwright)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from check_function_length import ROOT, relative

LIMIT = 800


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    over = []
    for root in args.paths or [ROOT / "src" / "runwright"]:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            if "migrations" in path.parts:
                continue
            length = len(path.read_text(encoding="utf-8").splitlines())
            if length > LIMIT:
                over.append((relative(path), length))
    for where, length in over:
        print(f"{where}: module is {length} lines (limit {LIMIT}): split it into rooms")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
