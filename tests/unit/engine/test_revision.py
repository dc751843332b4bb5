"""A store already at the newest migration opens without loading Alembic; one behind it, or
a migration history this check does not understand, still goes through Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from runwright.engine import revision
from runwright.engine.store import Store


def test_the_newest_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(revision.VERSIONS.parent))
    assert revision.newest() == ScriptDirectory.from_config(cfg).get_current_head()


def test_several_heads_or_a_file_without_revision_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    assert revision.newest(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    assert revision.newest(tmp_path) is None
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("b", "c0")\n')
    (tmp_path / "c0.py").write_text('revision = "c0"\ndown_revision = "a"\n')
    assert revision.newest(tmp_path) == "c"
    (tmp_path / "d.py").write_text("from x import revision\n")
    assert revision.newest(tmp_path) is None


def test_only_a_store_at_the_newest_revision_is_up_to_date(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        assert not revision.up_to_date(conn)
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0001')"))
        assert not revision.up_to_date(conn)
        conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision.newest()}
        )
        assert revision.up_to_date(conn)
    engine.dispose()


def test_reopening_an_upgraded_store_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    Store.open(url).close()
    code = (
        "import sys\nfrom runwright.engine.store import Store\n"
        f"Store.open({url!r}).close()\nprint('alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
