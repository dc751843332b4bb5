"""trust: reseal the events written before keyed chains, once, at this upgrade

No table changes. Crossing this revision is the one moment a store seals its old unkeyed
events: ``Store.migrate`` (which holds the audit key, unlike a migration) appends to each run
whose first events are unkeyed a sealed ``audit.resealed`` event naming them, after checking
their unkeyed chain. From then on an unkeyed event counts only if such an event covers it;
``runs.legacy_until`` is no longer trusted (anyone who can write the database can raise it).

Revision ID: 0005_trust_reseal
Revises: 0004_workers
"""

revision = "0005_trust_reseal"
down_revision = "0004_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
