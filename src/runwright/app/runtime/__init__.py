"""What every use case needs, opened once: the runtime (store, clock, step kinds, runbook
loader), settings, who is acting, and the run-time services a runbook asks for (driver,
router, the notify step's messenger, a release's and a product's versions)."""
