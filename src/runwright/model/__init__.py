"""Runbook schema, loaders and lint: what a runbook says, with no I/O beyond reading files."""
