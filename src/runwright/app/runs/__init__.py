"""Drive runs and decide them: deploy, resume, rollback; approve, reject, attest, settle,
abort; what a blocked run waits for; locks; following a run's events; workers and their pool."""
