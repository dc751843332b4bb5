"""Lint's destructive-command table: every class is flagged, at the command's own line."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.model.destructive import TABLE
from runwright.model.importer import import_markdown
from runwright.model.lint import lint
from runwright.model.loader import load_text
from runwright.model.markdown import parse_markdown
from runwright.steps.registry import step_kinds

# One command per class of the table; each must be reported with that class's label.
COMMANDS = {
    "rm -rf": "rm -rf /var/lib/app",
    "mkfs / dd to a device": "dd if=/dev/zero of=/dev/sdb bs=1M",
    "git push --force": "git push --force origin main",
    "git reset --hard / clean": "git reset --hard origin/main",
    "SQL DROP": "psql -c 'DROP INDEX idx_users_email'",
    "ALTER TABLE ... DROP": "psql -c 'ALTER TABLE users DROP COLUMN legacy_id'",
    "TRUNCATE": "psql -c 'TRUNCATE TABLE sessions'",
    "DELETE without WHERE": "psql -c 'DELETE FROM sessions;'",
    "alembic downgrade": "alembic downgrade -1",
    "database reset": "npx prisma migrate reset --force",
    "redis FLUSHALL/FLUSHDB": "redis-cli FLUSHALL",
    "kubectl delete": "kubectl -n prod delete deployment web",
    "kubectl scale to 0": "kubectl scale deployment/web --replicas=0 -n prod",
    "kubectl rollout undo": "kubectl rollout undo deployment/web -n prod",
    "kubectl drain": "kubectl drain node-1 --ignore-daemonsets",
    "helm uninstall/rollback": "helm rollback web 3",
    "terraform apply/destroy": "terraform destroy -auto-approve",
    "aws s3 rm --recursive": "aws s3 rm s3://bucket/uploads --recursive",
    "aws delete/terminate": "aws rds delete-db-instance --db-instance-identifier prod",
    "docker prune": "docker system prune -af",
    "docker compose down -v": "docker compose down -v",
    "a script called with --force": "./scripts/rollback.sh --force",
    "database restore": "./scripts/restore_database.sh backup-2024-01-01.sql",
    "cache clear": "php artisan cache:clear",
    "pkill / killall": "pkill -f celery",
    "session revocation": "./manage.py revoke_all_sessions",
    "vercel env rm": "vercel env rm DATABASE_URL production",
    "rollback workflow or script": "gh workflow run rollback.yml -f environment=production",
    "git revert pushed to main": "git revert HEAD --no-edit && git push origin main",
}
# Further forms of the classes above, each flagged at its own line.
MORE = [
    ("database restore", "pg_restore --clean -d shop /backups/shop.dump"),
    ("rollback workflow or script", "vercel rollback"),
    (
        "database restore",
        "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier db",
    ),
    ("cache clear", "aws cloudfront create-invalidation --distribution-id E1 --paths '/*'"),
    ("session revocation", "curl -X POST https://auth.example.com/admin/revoke-sessions"),
]


def test_every_class_of_the_table_has_a_command_here() -> None:
    assert sorted(COMMANDS) == sorted(row.label for row in TABLE)


def markdown_with(command: str) -> str:
    return (
        "# Svc\n\n## Deploy\n\n```bash\n# Prepare\necho start\n\n"
        f"# Do it\necho one\n{command}\necho two\n```\n\n## Rollback\n\n```bash\necho back\n```\n"
    )


@pytest.mark.parametrize("label", sorted(COMMANDS))
def test_each_destructive_class_is_flagged_at_its_own_line(label: str) -> None:
    text = markdown_with(COMMANDS[label])
    book = load_text(text, "svc.md", step_kinds(), parse_markdown)
    hits = [f for f in lint(book) if f.rule == "destructive"]
    assert [label in f.message for f in hits] == [True], hits
    assert text.split("\n")[hits[0].line - 1] == COMMANDS[label]  # not the comment above


@pytest.mark.parametrize(("label", "command"), MORE)
def test_further_forms_of_a_class_are_flagged_at_their_own_line(label: str, command: str) -> None:
    text = markdown_with(command)
    book = load_text(text, "svc.md", step_kinds(), parse_markdown)
    hits = [f for f in lint(book) if f.rule == "destructive"]
    assert [label in f.message for f in hits] == [True], hits
    assert text.split("\n")[hits[0].line - 1] == command


def test_sql_is_read_across_lines_and_flagged_where_the_statement_starts() -> None:
    sql = "psql \"$DATABASE_URL\" <<'SQL'\nALTER TABLE users\n  DROP COLUMN legacy_id;\nSQL"
    text = markdown_with(sql)
    book = load_text(text, "svc.md", step_kinds(), parse_markdown)
    hits = [f for f in lint(book) if f.rule == "destructive"]
    assert ["ALTER TABLE ... DROP" in f.message for f in hits] == [True]
    assert text.split("\n")[hits[0].line - 1] == "ALTER TABLE users"


def test_an_imported_restore_step_is_flagged_by_the_command_it_came_from() -> None:
    text = markdown_with("pg_restore --clean -d postgresql://db/shop /backups/shop.dump")
    text = text.replace("echo one\n", "").replace("\necho two", "")
    result = import_markdown(text, "svc.md")
    book = load_text(result.yaml("svc.md"), "svc.yaml", step_kinds())
    restore = next(s for _, s in book.steps() if s.kind == "restore")
    hits = [f for f in lint(book) if f.rule == "destructive"]
    assert [(f.line, "database restore" in f.message) for f in hits] == [(restore.line, True)]


def test_a_revert_not_pushed_to_main_is_not_flagged() -> None:
    book = load_text(
        markdown_with("git revert HEAD --no-edit"), "svc.md", step_kinds(), parse_markdown
    )
    assert [f for f in lint(book) if f.rule == "destructive"] == []


@pytest.mark.parametrize(
    "harmless",
    [
        "psql -c 'DELETE FROM sessions WHERE expires < now()'",
        "git push origin v1.2.3",
        "kubectl scale deployment/web --replicas=3",
        "kubectl get pods",
        "aws s3 cp backup.sql s3://bucket/",
        "./scripts/deploy.sh --dry-run",
        "alembic upgrade head",
        "pg_restore --list /backups/shop.dump",
        "./scripts/rollback.sh --dry-run",
        "redis-cli GET session:abc",
        "kill -HUP 1234",
    ],
)
def test_harmless_neighbours_are_not_flagged(harmless: str) -> None:
    book = load_text(markdown_with(harmless), "svc.md", step_kinds(), parse_markdown)
    assert [f for f in lint(book) if f.rule == "destructive"] == []


def test_a_finding_on_an_imported_yaml_carries_the_yaml_line(tmp_path: Path) -> None:
    text = markdown_with("redis-cli FLUSHALL") + "\nError rate > 5% for 5 minutes: roll back.\n"
    result = import_markdown(text, "svc.md")
    yaml_text = result.yaml("svc.md")
    book = load_text(yaml_text, "svc.yaml", step_kinds())
    findings = lint(book)
    lines = yaml_text.split("\n")
    flush = next(f for f in findings if f.rule == "destructive")
    assert flush.file == "svc.yaml"
    assert lines[flush.line - 1].strip() == "redis-cli FLUSHALL"
    draft = next(f for f in findings if f.rule == "draft-check")
    assert lines[draft.line - 1].strip().startswith("error-rate")


def test_watcher_without_timeout_is_a_warning_and_an_imported_one_gets_a_timeout() -> None:
    yaml_text = (
        "name: svc\nrollback: [{run: echo back}]\nphases:\n  - name: main\n    steps:\n"
        "      - name: follow\n        run: kubectl logs -f deployment/web\n"
        "      - name: bounded\n        run: tail -f /var/log/app.log\n        timeout: 1m\n"
    )
    findings = lint(load_text(yaml_text, "svc.yaml", step_kinds()))
    watch = [f for f in findings if f.rule == "watcher-without-timeout"]
    assert [(f.line, "'follow'" in f.message) for f in watch] == [(7, True)]
    imported = import_markdown(markdown_with("kubectl logs -f deployment/web"), "svc.md")
    step = imported.runbook["phases"][0]["steps"][1]
    assert step["timeout"] == "5m"
    assert "runs until stopped" in step["description"]
    assert any(n.kind == "watcher" and n.line == 11 for n in imported.not_understood)


def test_a_hard_coded_version_without_the_version_variable_is_a_warning() -> None:
    text = markdown_with("git tag -a v1.2.3 -m release")
    findings = lint(load_text(text, "svc.md", step_kinds(), parse_markdown))
    unused = [f for f in findings if f.rule == "version-unused"]
    assert len(unused) == 1
    assert unused[0].line == 11
    assert "'v1.2.3'" in unused[0].message
    fixed = text.replace("v1.2.3", "{{ version }}")
    findings = lint(load_text(fixed, "svc.md", step_kinds(), parse_markdown))
    assert "version-unused" not in [f.rule for f in findings]
