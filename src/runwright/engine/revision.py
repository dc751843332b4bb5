"""Is the store's schema already at the newest migration? Answered without Alembic.

Every local command opens the store, and importing Alembic costs about 0.1 s of CPU. A store
is upgraded once per release of runwright and read thousands of times, so ``Store.migrate``
asks here first and loads Alembic only when the answer is not a plain yes. The newest
revision is read from the migration files' ``revision`` / ``down_revision`` assignments with
``ast`` (no migration module is imported); anything unusual (a file without them, a merge
with several heads) answers "unknown", and Alembic decides as before.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

VERSIONS = Path(__file__).parent.parent / "migrations" / "versions"


def _assigned(tree: ast.Module) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    try:
                        found[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue
    return found


def newest(versions: Path = VERSIONS) -> str | None:
    """The single head revision of the migrations in ``versions``, or None if unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        if path.name == "__init__.py":
            continue
        values = _assigned(ast.parse(path.read_text(encoding="utf-8")))
        revision, down = values.get("revision"), values.get("down_revision", "?")
        if not isinstance(revision, str) or down == "?":
            return None
        revisions.add(revision)
        downs = down if isinstance(down, tuple | list) else (down,)
        parents.update(d for d in downs if isinstance(d, str))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current(conn: Connection) -> str | None:
    """The revision the store records (Alembic's ``alembic_version`` table), if exactly one."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


@cache
def _installed_head() -> str | None:
    return newest(VERSIONS)


def up_to_date(conn: Connection) -> bool:
    """True only when the store is known to be at the newest revision."""
    head = _installed_head()
    return head is not None and current(conn) == head
