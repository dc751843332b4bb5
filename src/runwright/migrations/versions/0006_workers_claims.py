"""workers: a ``workers`` table and a fencing epoch on each run's lease

``runs.lease_epoch`` rises with every claim or takeover of a run; the process driving it
checks the epoch (and its ownership) in the transaction of each journal write, so a worker
that was paused past its lease cannot write after another took the run over.

Revision ID: 0004_workers
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_workers"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=300), primary_key=True),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("lease_epoch")
