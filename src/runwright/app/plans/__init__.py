"""What a run would do, before it does it: the runbook expanded into steps, the environment's
policies, the schema a rollback brings back, the revision it redeploys, and the ``plan`` and
``rollback --dry-run`` previews."""
