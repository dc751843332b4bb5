"""The release's git tag exists: a deploy of a version nobody tagged cannot be traced back.

``check_git_tag`` asks ``git rev-parse`` in the repository for ``refs/tags/<tag>`` and records
the commit it names (annotated tags are followed to their commit), so the report shows exactly
what was released. A missing tag, a directory that is no repository, or git refusing (for
example a repository owned by another user) is a failed result carrying git's words.
"""

from __future__ import annotations

from pathlib import Path

from runwright.engine.clock import Clock, SystemClock
from runwright.engine.spawn import NotStarted, run_program
from runwright.preflight.base import CheckResult


async def check_git_tag(
    repo: Path | str,
    tag: str,
    *,
    git: str = "git",
    timeout_seconds: float = 10.0,
    clock: Clock | None = None,
) -> CheckResult:
    """OK when ``tag`` exists in the git repository at ``repo``; evidence has its commit."""
    evidence: dict[str, str | None] = {"repo": str(repo), "tag": tag, "commit": None}
    argv = [git, "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"]
    try:
        done = await run_program(argv, timeout=timeout_seconds, clock=clock or SystemClock())
    except NotStarted as exc:
        return CheckResult(False, f"cannot run {git}: {exc.error}", evidence)
    except TimeoutError:
        return CheckResult(False, f"git did not answer within {timeout_seconds:g}s", evidence)
    if done.code == 0:
        commit = done.out.strip()
        evidence["commit"] = commit
        return CheckResult(True, f"tag {tag} exists in {repo} at commit {commit[:12]}", evidence)
    reason = done.err.strip()
    if done.code == 1 and not reason:
        return CheckResult(False, f"tag {tag} does not exist in {repo}", evidence)
    return CheckResult(False, f"cannot look up tag {tag} in {repo}: {reason}", evidence)
