"""events notify their followers on PostgreSQL (LISTEN runwright_events)

Every inserted event sends NOTIFY 'RUN:SEQ:ID' on the channel runwright_events when its
transaction commits, so a follower wakes at once instead of at its next poll. SQLite has no
notifications: its followers poll by sequence, and nothing is created there.

Revision ID: 0003_bus
Revises: 0002_web
"""

from alembic import op

revision = "0003_bus"
down_revision = "0002_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION runwright_notify_event() RETURNS trigger AS $fn$
        BEGIN
            PERFORM pg_notify(
                'runwright_events', NEW.run_id::text || ':' || NEW.seq::text || ':' || NEW.id::text
            );
            RETURN NEW;
        END;
        $fn$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION runwright_notify_event()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS runwright_notify_event()")
