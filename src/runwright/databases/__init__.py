"""Database safety for releases: backups proven to restore, retention, migrations with a way back.

base        the ``Database`` contract, ``BackupInfo`` (``backup.json``), ``VerifyResult``
postgres    pg_dump/pg_restore, verified in a scratch database
sqlite      the online backup API, verified in a scratch file
fake        in memory, for step tests and the demo
catalog     ``<root>/<database>/<timestamp>-<run>/``, retention, ``restore_with_safety``
migrations  Alembic and command migrations with a declared rollback policy
"""

from runwright.databases.base import BackupInfo, Database, VerifyResult
from runwright.databases.catalog import (
    BackupCatalog,
    RetentionPlan,
    RetentionPolicy,
    SafeRestore,
    restore_with_safety,
)
from runwright.databases.migrations import (
    AlembicMigration,
    AlembicSettings,
    CommandMigration,
    CommandMigrationSettings,
    Migration,
    MigrationPlan,
    MigrationRecord,
    RollbackPolicy,
)

__all__ = [
    "AlembicMigration",
    "AlembicSettings",
    "BackupCatalog",
    "BackupInfo",
    "CommandMigration",
    "CommandMigrationSettings",
    "Database",
    "Migration",
    "MigrationPlan",
    "MigrationRecord",
    "RetentionPlan",
    "RetentionPolicy",
    "RollbackPolicy",
    "SafeRestore",
    "VerifyResult",
    "restore_with_safety",
]
