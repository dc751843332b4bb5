"""Read models and records: what ``status``, ``history`` and ``logs`` show, the sign-off
report (Markdown and printable HTML), the audit trail's checks and export, the runbook schema."""
