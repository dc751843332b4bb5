"""remote: scoped API tokens, Slack user links, and Slack interactions already seen

A token may be narrowed to one environment and one role (``runwright users token USER --env
staging --role deployer``), so a CI job holds no more than its job needs. ``slack_links``
maps a Slack user id to the runwright user whose decisions a Slack button records, and
``slack_seen`` keeps the digest of every signed interaction the server accepted, so a
replayed request is refused. ``device_logins`` holds pending ``runwright login --browser``
requests until a logged-in person confirms them in the browser.

Revision ID: 0008_remote
Revises: 0005_trust_reseal
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_remote"
down_revision = "0005_trust_reseal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope_env", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("scope_role", sa.String(length=20), nullable=True))
    op.create_table(
        "slack_links",
        sa.Column("slack_id", sa.String(length=100), primary_key=True),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
    )
    op.create_table(
        "slack_seen",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "device_logins",
        sa.Column("device_digest", sa.String(length=64), primary_key=True),
        sa.Column("user_code", sa.String(length=20), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_logins")
    op.drop_table("slack_seen")
    op.drop_table("slack_links")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("scope_role")
        batch_op.drop_column("scope_env")
