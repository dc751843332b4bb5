"""runwright: a deployment runbook that executes itself, proves what it did, and undoes itself."""

__version__ = "0.1.0"
