"""Alembic migrations of runwright's store; applied automatically when a store is opened."""
