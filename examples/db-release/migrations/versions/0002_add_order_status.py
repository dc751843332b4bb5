"""Add a status to orders and a table of their shipments.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("status", sa.String(20), server_default="placed"))
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shipments")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("status")
