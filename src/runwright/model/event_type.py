"""The one vocabulary of audit events: what each row of the event table says happened.

The engine writes these types, and the CLI's live view, the dashboard, notifications, the
audit report and chain verification match on them; a type spelled differently in one place
is an event nobody reacts to. They are defined once here, and
``scripts/check_status_literals.py`` fails ``scripts/lint`` when one is written as a bare
string anywhere else in ``src/``. Their values are stored in the event table: never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    RUN_CREATED = "run.created"
    RUN_STARTED = "run.started"
    RUN_RESUMED = "run.resumed"
    RUN_CLAIMED = "run.claimed"
    RUN_TAKEN_OVER = "run.taken_over"
    RUN_AWAITING_SETTLEMENT = "run.awaiting_settlement"
    RUN_ABORT_REQUESTED = "run.abort_requested"
    RUN_FINISHED = "run.finished"
    STEP_STARTED = "step.started"
    STEP_RETRY = "step.retry"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_BLOCKED = "step.blocked"
    STEP_FAILED = "step.failed"
    STEP_SETTLED = "step.settled"
    STEP_ORPHAN = "step.orphan"
    STEP_PROCESS = "step.process"
    UNDO_STARTED = "undo.started"
    UNDO_RETRY = "undo.retry"
    UNDO_SUCCEEDED = "undo.succeeded"
    UNDO_BLOCKED = "undo.blocked"
    UNDO_FAILED = "undo.failed"
    ROLLBACK_STARTED = "rollback.started"
    APPROVAL_GIVEN = "approval.given"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_REFUSED = "approval.refused"
    GATE_ATTESTED = "gate.attested"
    GATE_ITEM = "gate.item"
    ATTESTATION_REFUSED = "attestation.refused"
    ANALYSIS_PAUSED = "analysis.paused"
    SILENCE_CREATED = "silence.created"
    SILENCE_EXTENDED = "silence.extended"
    SILENCE_EXPIRED = "silence.expired"
    BACKUP_TAKEN = "backup.taken"
    BACKUP_VERIFIED = "backup.verified"
    BACKUP_RESTORED = "backup.restored"
    LOCK_TAKEN_OVER = "lock.taken_over"
    LOCK_BROKEN = "lock.broken"
    REVISION_RECORDED = "revision.recorded"
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_FAILED = "notification.failed"
    AUDIT_RESEALED = "audit.resealed"
    SLACK_REFUSED = "slack.refused"
    PREFLIGHT_CHECK = "preflight.check"
    MIGRATION_APPLIED = "migration.applied"
    MIGRATION_DOWNGRADED = "migration.downgraded"
    TRAFFIC_RESTORED = "traffic.restored"

    def of(self, *, undo: bool) -> EventType:
        """This step event (``step.started``), or its undo's (``undo.started``) for an undo."""
        return EventType(self.replace("step.", "undo.", 1)) if undo else self
