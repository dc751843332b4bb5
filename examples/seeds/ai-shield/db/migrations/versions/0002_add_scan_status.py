"""Add a status to scans.

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
    op.add_column("scans", sa.Column("status", sa.String(20), server_default="queued"))


def downgrade() -> None:
    op.drop_column("scans", "status")
