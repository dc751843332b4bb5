"""Use cases (deploy, resume, approve, settle, abort, plan, report...) that both edges call."""
