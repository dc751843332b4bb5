"""Opening a store: the database engine for a URL, the audit key beside a SQLite file, and the
Alembic upgrade (with the one-time reseal of events written before keyed chains).

SQLite runs in WAL with ``BEGIN IMMEDIATE`` so writers queue instead of failing; PostgreSQL
ends a transaction left idle by a paused process so its row locks never stall the workers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from itertools import takewhile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from runwright.engine import tables as t
from runwright.engine.chain import ChainKey, load_key
from runwright.engine.journal import Journal
from runwright.engine.private import private_file
from runwright.engine.proof import RESEALED, intact, resealed_until
from runwright.engine.revision import up_to_date
from runwright.engine.rows import Entry, event_row
from runwright.engine.storebase import StoreError
from runwright.errors import InputError

IDLE_TX_TIMEOUT_MS = 2000
RESEAL_REVISION = "0005_trust_reseal"

log = logging.getLogger(__name__)


def migrate(store: Journal) -> None:
    """Upgrade the store's schema to Alembic's head (nothing to do when it is there: Alembic
    is loaded only when it has work, ~0.1 s of every command's start otherwise)."""
    try:
        with store.engine.begin() as conn:
            if not up_to_date(conn):
                _upgrade(store, conn)
    except DatabaseError as exc:
        raise StoreError(
            f"cannot open the state store at {store.engine.url.render_as_string()}: {exc.orig}",
            hint="check --database-url / RUNWRIGHT_DATABASE_URL and that the server runs",
        ) from None


def _upgrade(store: Journal, conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    current = MigrationContext.configure(conn).get_current_revision()
    if current == script.get_current_head():
        return
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
    before = {s.revision for s in script.iterate_revisions(current, "base")}
    if current is not None and RESEAL_REVISION not in before:
        _reseal(store, conn, datetime.now(UTC))


def _reseal(store: Journal, conn: Connection, now: datetime) -> None:
    """Seal, once, each run's events written before keyed chains (see migration
    0005_trust_reseal): a sealed ``audit.resealed`` event names the unkeyed first events,
    after checking their unkeyed chain. Unkeyed events after a sealed one, or in a run
    whose unkeyed chain is broken, are left unsealed: ``audit verify`` reports them.
    ``now`` is the upgrade's wall-clock time (no run's clock applies here)."""
    query = sa.select(t.events.c.run_id).where(t.events.c.gseq.is_(None)).distinct()
    for run_id in sorted(int(r) for r in conn.execute(query).scalars()):
        rows = conn.execute(
            sa.select(t.events).where(t.events.c.run_id == run_id).order_by(t.events.c.seq)
        ).mappings()
        events = [event_row(r) for r in rows]
        prefix = list(takewhile(lambda e: e.gseq is None, events))
        if not prefix or resealed_until(store.key, events):
            continue
        if not intact(store.key, prefix):
            log.warning("run %s: its unkeyed events do not verify; not resealed", run_id)
            continue
        last = prefix[-1]
        data = {"until": last.seq, "head": last.hash, "note": "events written before "
                "keyed chains, checked and sealed at the upgrade"}  # fmt: skip
        store.append_within(conn, run_id, Entry("runwright (upgrade)", RESEALED, now, None, data))


def make_engine(url: str, *, durable: bool) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                private_file(Path(path))  # SQLite gives its -wal and -shm files this mode
            engine = sa.create_engine(url, connect_args={"timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi: Any, _record: Any) -> None:
                dbapi.isolation_level = None
                cur = dbapi.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        # No transaction of ours waits on its client; one that does belongs to a process
        # paused or cut off mid-write, whose row locks would stall every worker: the server
        # ends it (and its locks) instead, and that process's write fails.
        options = f"-c idle_in_transaction_session_timeout={IDLE_TX_TIMEOUT_MS}"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    except (SQLAlchemyError, ValueError) as exc:
        raise InputError(
            f"bad database URL {url!r}: {exc}",
            hint="use sqlite:///PATH or postgresql://user@host:port/db",
        ) from None
    except ModuleNotFoundError as exc:
        raise InputError(f"no database driver for {url!r}: {exc.name}") from None
    except OSError as exc:
        raise StoreError(
            f"cannot create the state store's directory for {url!r}: {exc.strerror}",
            hint="check --state-dir / RUNWRIGHT_STATE_DIR and that it is writable",
        ) from None


def key_beside(url: str) -> ChainKey:
    path = url.split("///", 1)[-1] if url.startswith("sqlite") and "///" in url else ""
    if not path or path == ":memory:":
        raise InputError(
            f"no audit key given for {url}",
            hint="set RUNWRIGHT_AUDIT_KEY (64 hex digits) for a shared database",
        )
    return load_key(Path(path).parent, {})
