"""Use cases (deploy, resume, approve, settle, abort, plan, report...) that both edges call.

Grouped by what they are for, lowest first: ``runtime`` (what every use case needs, opened
once), ``plans`` (what a run would do, before it does it) and ``notifications`` (messages a
run sends), ``runs`` (drive runs and record what people decide about them), then ``reads``
(read models and records) and ``people`` (users, tokens, device logins). A group imports only
the groups below it (an import-linter contract in pyproject.toml). ``databases`` and ``demo``
stand at the top: each is one command built from the groups.
"""
