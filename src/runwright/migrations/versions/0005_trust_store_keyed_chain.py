"""keyed audit chain: store-wide links on events, a sealed store-wide head, legacy marks

Events already in the database keep their unkeyed hashes; ``runs.legacy_until`` records how
many events each existing run had, so ``audit verify`` reports them as unkeyed (written
before keyed chains) rather than as tampered.

Revision ID: 0003
Revises: 0003_bus
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0003_bus"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gseq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gprev", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_events_gseq", ["gseq"])
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legacy_until", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute("UPDATE runs SET legacy_until = event_count")
    op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gseq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("chain_head")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("legacy_until")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_events_gseq", type_="unique")
        batch_op.drop_column("gprev")
        batch_op.drop_column("gseq")
