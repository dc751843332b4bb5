"""The commands that destroy something, as a table lint reads: one row per class.

Each row names a class of command (the label a finding shows), the pattern that recognises
it in a step's text, and which family it belongs to. ``tests/unit/model/test_lint.py`` has
one runbook line per row and checks each is flagged at its own line. Add a row here to teach
lint a new command; nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Destructive:
    family: str
    label: str
    pattern: re.Pattern[str]
    requires: re.Pattern[str] | None = None  # only when the step's text also has this


def _row(
    family: str, label: str, pattern: str, flags: int = 0, requires: str | None = None
) -> Destructive:
    return Destructive(
        family, label, re.compile(pattern, flags), re.compile(requires) if requires else None
    )


_I = re.I
TABLE: tuple[Destructive, ...] = (
    _row("shell", "rm -rf", r"\brm\s+(?:-\w+\s+)*-(?:[a-zA-Z]*r[a-zA-Z]*f|[a-zA-Z]*f[a-zA-Z]*r)\b"),
    _row("shell", "mkfs / dd to a device", r"\bmkfs(?:\.\w+)?\s|\bdd\s[^\n]*\bof=/dev/"),
    _row("git", "git push --force", r"\bgit\s+push\b[^\n;|&]*\s(?:--force(?:-with-lease)?|-f)\b"),
    _row("git", "git reset --hard / clean", r"\bgit\s+(?:reset\s+--hard|clean\s+-\w*f)"),
    _row(
        "sql",
        "SQL DROP",
        r"\bDROP\s+(?:TABLE|DATABASE|SCHEMA|INDEX|VIEW|MATERIALIZED\s+VIEW|TYPE|EXTENSION"
        r"|SEQUENCE|FUNCTION|TRIGGER|USER|ROLE)\b",
        _I,
    ),
    _row("sql", "ALTER TABLE ... DROP", r"\bALTER\s+TABLE\b[^;]{0,300}?\bDROP\b", _I),
    _row("sql", "TRUNCATE", r"\bTRUNCATE\s+(?:TABLE\s+)?\w", _I),
    _row(
        "sql",
        "DELETE without WHERE",
        r"\bDELETE\s+FROM\s+[\w.\"`]+(?![^;]{0,300}?\bWHERE\b)",
        _I,
    ),
    _row("database", "alembic downgrade", r"\balembic\b[^\n;|&]*\sdowngrade\b"),
    _row(
        "database",
        "database reset",
        r"\bprisma\s+migrate\s+reset\b|\bdropdb\b|\bdb:drop\b|\bdb:reset\b|migrate:fresh\b",
    ),
    _row(
        "database",
        "database restore",
        r"\bpg_restore\b(?![^\n;|&]*\s(?:--list|-l)\b)|\baws\s+rds\s+restore-db-[\w-]+|\bmongorestore\b|(?:\./|\b)[\w./-]{0,200}restore[\w-]{0,60}\.(?:sh|py)\b"
        r"|\b(?:psql|mysql)\b[^\n|;&]*\s<\s*\S+\.(?:sql|dump)\b",
    ),
    _row("redis", "redis FLUSHALL/FLUSHDB", r"\bFLUSH(?:ALL|DB)\b", _I),
    _row(
        "cache",
        "cache clear",
        r"\b(?:cache:clear|cache[_-]clear|clear[_-]cache|purge[_-]cache|purge_everything"
        r"|cache\s+(?:clean|clear|purge)|create-invalidation)\b",
        _I,
    ),
    _row("process", "pkill / killall", r"\bpkill\b|\bkillall\b|\bkill\s+-(?:9|KILL)\b"),
    _row(
        "sessions",
        "session revocation",
        r"\brevoke[\w-]{0,30}?[\s_-]+(?:all[\s_-]+)?(?:user[\s_-]+)?sessions?\b"
        r"|\b(?:invalidate|flush|clear|expire)[\w-]{0,30}?[\s_-]+(?:all[\s_-]+)?(?:user[\s_-]+)?"
        r"sessions\b|\bsessions?:(?:revoke|clear|flush|invalidate)\b",
        _I,
    ),
    _row("vercel", "vercel env rm", r"\bvercel\s+env\s+(?:rm|remove)\b"),
    _row(
        "rollback",
        "rollback workflow or script",
        r"\bgh\s+workflow\s+run\s+[\w./-]*rollback|\bvercel\s+rollback\b|\bheroku\s+rollback\b"
        r"|(?:\./|\b)[\w./-]{0,200}rollback[\w.-]{0,60}\.(?:sh|py)\b(?![^\n;|&]*\s--(?:force|dry-run)\b)",
    ),
    _row(
        "git",
        "git revert pushed to main",
        r"\bgit\s+push\b[^\n;|&]*\b(?:main|master|production)\b",
        requires=r"\bgit\s+revert\b",
    ),
    _row("kubernetes", "kubectl delete", r"\bkubectl[ \t]+(?:[^\s|;&]+[ \t]+)*?delete\b"),
    _row(
        "kubernetes",
        "kubectl scale to 0",
        r"\bkubectl\b[^\n;|&]*\bscale\b[^\n;|&]*--replicas[= ]0\b",
    ),
    _row("kubernetes", "kubectl rollout undo", r"\bkubectl\b[^\n;|&]*\brollout\s+undo\b"),
    _row("kubernetes", "kubectl drain", r"\bkubectl\b[^\n;|&]*\bdrain\b"),
    _row("helm", "helm uninstall/rollback", r"\bhelm\s+(?:uninstall|delete|rollback)\b"),
    _row("terraform", "terraform apply/destroy", r"\bterraform\s+(?:apply|destroy)\b"),
    _row("aws", "aws s3 rm --recursive", r"\baws\s+s3\s+(?:rm|rb)\b[^\n;|&]*--(?:recursive|force)"),
    _row(
        "aws",
        "aws delete/terminate",
        r"\baws\s+(?:rds|ec2|ecs|eks|dynamodb|elasticache)\s+"
        r"(?:delete-[\w-]+|terminate-instances)",
    ),
    _row("docker", "docker prune", r"\bdocker(?:\s+\w+)?\s+prune\b"),
    _row("docker", "docker compose down -v", r"\bdocker[- ]compose\b[^\n]*\bdown\b[^\n]*\s-v\b"),
    _row(
        "script",
        "a script called with --force",
        r"(?:\./|\b)[\w./-]{1,200}\.(?:sh|py|rb|pl|js|ts)\b[^\n;|&]*\s--force\b",
    ),
)


@dataclass(frozen=True)
class Match:
    row: Destructive
    text: str
    offset: int  # lines from the start of the text


def find(text: str) -> Iterator[Match]:
    """Every destructive command in ``text``, in the order of the table."""
    for row in TABLE:
        if row.requires is not None and not row.requires.search(text):
            continue
        for match in row.pattern.finditer(text):
            yield Match(row, match.group(0), text.count("\n", 0, match.start()))
