"""The store's tables, in one place: Alembic migrations and the store both build on them.

``runs`` and ``steps`` hold the current state (fast to query); ``events`` is the append-only,
hash-chained audit trail of how that state came about, each event sealed with a key kept
outside the database and linked store-wide through ``gseq``/``gprev``; ``chain_head`` holds
the sealed store-wide head. ``runs.legacy_until`` is how many of a run's events predate keyed
chains. ``locks`` gives one active run per
(runbook, environment); ``approvals`` holds approvals and gate attestations with who and when;
``revisions`` numbers each successful deploy of an environment; ``measurements`` keeps every
metric reading an analysis took, so a rollback can always be explained; ``notifications``
journals each (event, subscription) delivery, so a message goes out once across crashes and
workers, and keeps the references (a Slack message, an open incident) later ones update.
``workers`` lists the ``runwright worker`` processes sharing the store, with their heartbeats;
``runs.lease_epoch`` is the fencing token a claim or takeover raises, which every journal write
of the driving process checks.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("runbook", String(200), nullable=False, index=True),
    Column("environment", String(100), nullable=False),
    Column("version", String(200), nullable=False),
    Column("status", String(40), nullable=False, index=True),
    Column("initiator", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("runbook_file", Text, nullable=False),
    Column("runbook_text", Text, nullable=False),
    Column("runbook_digest", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("failure", Text),
    Column("abort_requested", String(200)),
    Column("lease_owner", String(300)),
    Column("lease_expires", DateTime(timezone=True)),
    Column("lease_epoch", Integer, nullable=False, default=0),
    Column("event_count", Integer, nullable=False, default=0),
    Column("head_hash", String(64), nullable=False, default=""),
    Column("revision", Integer),
    Column("kind", String(40), nullable=False, default="deploy"),
    Column("legacy_until", Integer, nullable=False, default=0),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("note", Text),
)

steps = Table(
    "steps",
    metadata,
    Column("run_id", Integer, nullable=False),
    Column("section", String(20), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("phase", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("spec", Text, nullable=False),
    Column("status", String(30), nullable=False),
    Column("undo_status", String(30)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("summary", Text),
    Column("output", Text, nullable=False, default=""),
    Column("data", Text, nullable=False, default="{}"),
    PrimaryKeyConstraint("run_id", "section", "idx"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("type", String(60), nullable=False),
    Column("step", String(300)),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("gseq", Integer),
    Column("gprev", String(64)),
    UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
    UniqueConstraint("gseq", name="uq_events_gseq"),
)

chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("gseq", Integer, nullable=False),
    Column("head", String(64), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("seal", String(64), nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("gate", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("item", Integer),
    Column("user", String(200), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("runbook", String(200), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("runbook", "environment"),
)

revisions = Table(
    "revisions",
    metadata,
    Column("runbook", String(200), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("number", Integer, nullable=False),
    Column("version", String(200), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("runbook_digest", String(64), nullable=False),
    Column("deployed_by", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False, default="{}"),
    PrimaryKeyConstraint("runbook", "environment", "number"),
)

measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("step", String(300), nullable=False),
    Column("check", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("query", Text, nullable=False),
    Column("value", Float),
    Column("condition", String(200), nullable=False),
    Column("verdict", String(30), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("breached", Boolean, nullable=False, default=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("event_id", Integer, nullable=False),
    Column("subscription", Integer, nullable=False),
    Column("sink", String(200), nullable=False),
    Column("runbook", String(200), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("event", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("refs", Text, nullable=False, default="{}"),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_id", "subscription", name="uq_notifications_event_sub"),
)
