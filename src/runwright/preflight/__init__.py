"""Preflight checks: the preconditions a release gate proves instead of a person ticking a box.

Each check is a small async function returning a ``CheckResult(ok, detail, evidence)``:

    check_disk_free(path, min_free_percent=, min_free_bytes=)
    check_tls_expiry(endpoint, min_days=, clock=, verify=, cafile=)
    check_dns(name, expect=)
    check_env_vars(env, required, example_file=)
    check_secrets(declared, env, base_dir=)
    check_git_tag(repo, tag)

``run_checks`` runs several concurrently.
"""

from runwright.preflight.base import CheckResult, run_checks
from runwright.preflight.disk import check_disk_free
from runwright.preflight.dns import check_dns
from runwright.preflight.envvars import check_env_vars, example_keys
from runwright.preflight.gittag import check_git_tag
from runwright.preflight.secrets import SecretSource, check_secrets
from runwright.preflight.tls import certificate_dates, check_tls_expiry

__all__ = [
    "CheckResult",
    "SecretSource",
    "certificate_dates",
    "check_disk_free",
    "check_dns",
    "check_env_vars",
    "check_git_tag",
    "check_secrets",
    "check_tls_expiry",
    "example_keys",
    "run_checks",
]
