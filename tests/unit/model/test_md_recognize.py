"""The recognition table, row by row: what each kind of command becomes, and what it never
becomes (a command no row reads stays a ``run`` step; one needing a person stays manual)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runwright.model.destructive import find
from runwright.model.md_recognize import TABLE, recognise, split_recognised
from runwright.model.release import ServiceSpec

# command -> (label, the step proposed)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "curl -f https://api.example.com/health": (
        "health check",
        {"http": {"url": "https://api.example.com/health", "until_healthy": {"timeout": "60s"}}},
    ),
    "curl -s https://shop.example.com/api/version | grep -q 1.4.2": (
        "health check",
        {
            "http": {
                "url": "https://shop.example.com/api/version",
                "expect": {"body_contains": ["1.4.2"]},
                "until_healthy": {"timeout": "60s"},
            }
        },
    ),
    "curl -X GET http://localhost:8000/health | jq .": (
        "health check",
        {"http": {"url": "http://localhost:8000/health", "until_healthy": {"timeout": "60s"}}},
    ),
    "curl -I https://legal.example.com/home": (
        "health check",
        {"http": {"url": "https://legal.example.com/home", "method": "HEAD"}},
    ),
    "kubectl rollout status deployment/backend -n production --timeout=300s": (
        "readiness wait",
        {
            "run": "kubectl rollout status deployment/backend -n production --timeout=300s",
            "timeout": "300s",
            "idempotent": True,
        },
    ),
    "docker compose ps": (
        "readiness wait",
        {"run": "docker compose ps", "timeout": "10m", "idempotent": True},
    ),
    "sleep 30": ("wait", {"wait": {"duration": "30s", "reason": "the runbook waited here"}}),
    "pg_dump $DATABASE_URL > backup.sql": (
        "backup (pg_dump)",
        {"backup": {"database": "{{ secrets.DATABASE_URL }}", "verify": True}},
    ),
    "docker-compose exec -T db pg_dump -U postgres shop > backup.sql": (
        "backup (pg_dump)",
        {"backup": {"database": "{{ secrets.DATABASE_URL }}", "verify": True}},
    ),
    "pg_restore --clean -d postgresql://db.internal/shop /backups/shop.dump": (
        "restore (pg_restore)",
        {"restore": {"database": "postgresql://db.internal/shop"}},
    ),
    "aws rds create-db-snapshot --db-instance-identifier prod-db --db-snapshot-identifier pre": (
        "backup (RDS snapshot)",
        {"backup": {"database": "rds://prod-db", "verify": True}},
    ),
    "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier prod-db "
    "--db-snapshot-identifier pre": (
        "restore (RDS snapshot)",
        {"restore": {"database": "rds://prod-db"}},
    ),
    "alembic upgrade head": (
        "migration (alembic)",
        {"migrate": {"command": "alembic upgrade head", "tool": "alembic"}},
    ),
    "kubectl exec -n production deployment/backend -- alembic downgrade -1": (
        "migration (alembic)",
        {
            "migrate": {
                "command": "kubectl exec -n production deployment/backend -- alembic downgrade -1",
                "tool": "alembic",
            }
        },
    ),
    "npx prisma migrate deploy": (
        "migration (prisma)",
        {"migrate": {"command": "npx prisma migrate deploy", "tool": "prisma"}},
    ),
    "python manage.py migrate --noinput": (
        "migration",
        {"migrate": {"command": "python manage.py migrate --noinput", "tool": "command"}},
    ),
    "kubectl set image deployment/web web=shop:1.4.2 -n production": (
        "deploy (a service driver is proposed)",
        {"run": "kubectl set image deployment/web web=shop:1.4.2 -n production"},
    ),
    "docker compose up -d": (
        "deploy (a service driver is proposed)",
        {"run": "docker compose up -d"},
    ),
    "./scripts/deploy-production.sh": (
        "deploy (a service driver is proposed)",
        {"run": "./scripts/deploy-production.sh"},
    ),
    'curl -X POST https://hooks.slack.com/services/T0/B0/x -d \'{"text": "Deployed"}\'': (
        "notification (Slack)",
        {"notify": {"to": ["slack"], "text": "Deployed"}},
    ),
    'curl -X POST https://status.example.com/api/incidents -d \'{"name": "Maintenance"}\'': (
        "notification (status page)",
        {"notify": {"to": ["status_page"], "text": "Maintenance"}},
    ),
}


@pytest.mark.parametrize("command", sorted(CASES))
def test_each_row_proposes_the_step_that_does_what_the_command_does(command: str) -> None:
    label, step = CASES[command]
    found = recognise(command)
    assert (found.label, found.step) == (label, step)


def test_every_row_of_the_table_is_exercised() -> None:
    labels = {recognise(command).label for command in CASES}
    assert {row.label for row in TABLE} <= labels


@pytest.mark.parametrize(
    "command",
    [
        "./scripts/validate-deployment.sh -e staging",
        "aws ecs update-service --cluster prod --service api --force-new-deployment",
        'curl -X POST https://api.example.com/auth/login -d \'{"user": "a"}\'',  # not a check
        "curl -f $BASE_URL/health",  # the URL comes from the shell: run it as written
        "pg_dump $DATABASE_URL | aws s3 cp - s3://backups/db.sql",  # a pipeline elsewhere
        "alembic upgrade head && ./restart.sh",
    ],
)
def test_a_command_no_row_reads_stays_a_run_step_as_written(command: str) -> None:
    found = recognise(command)
    assert (found.label, found.step) == ("run as written", {"run": command})


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("aws ecs describe-tasks --cluster prod --tasks <task-arn>", "placeholder"),
        ("./scripts/restore.sh your-backup-file", "placeholder"),
        ("kubectl logs -f deployment/web", "until someone stops it"),
        ("kubectl exec -it postgres-0 -- psql shop", "interactive"),
        ("psql $DATABASE_URL", "interactive"),
        ("docker stats", "interactive"),
        ("kubectl edit configmap web", "interactive"),
        ("SELECT count(*) FROM pg_stat_activity;", "not a shell command"),
        ("\\dt", "not a shell command"),
        ("POST /api/v1/auth/login\nContent-Type: application/json", "not a shell command"),
    ],
)
def test_a_command_that_needs_a_person_stays_manual(command: str, why: str) -> None:
    found = recognise(command)
    assert found.manual
    assert found.step == {"run": command, "manual": True}
    assert why in found.note


def test_proposals_declare_what_they_need() -> None:
    backup = recognise("pg_dump $PRODUCTION_DATABASE_URL > x.sql")
    assert backup.step["backup"]["database"] == "{{ secrets.PRODUCTION_DATABASE_URL }}"
    assert backup.secrets == {
        "PRODUCTION_DATABASE_URL": {
            "env": "PRODUCTION_DATABASE_URL",
            "description": "proposed by runwright import",
        }
    }
    slack = recognise('curl -X POST https://hooks.slack.com/services/x -d \'{"text": "hi"}\'')
    assert slack.sinks == {"slack": {"slack": {"webhook": "{{ secrets.SLACK_WEBHOOK_URL }}"}}}
    assert "SLACK_WEBHOOK_URL" in slack.secrets
    deploy = recognise("kubectl set image deployment/web web=shop:1")
    assert "driver kubernetes" in deploy.note


def test_a_recognised_command_with_a_placeholder_is_proposed_with_a_note_to_fill_it_in() -> None:
    found = recognise("curl -f https://api.yourdomain.com/health")
    assert found.label == "health check"
    assert "fill in the placeholder 'yourdomain'" in found.note


def test_several_recognised_commands_under_one_comment_split_one_per_line() -> None:
    block = "curl -f https://a.example.com/health\ncurl -f https://b.example.com/ready"
    assert split_recognised(block) == [
        (0, "curl -f https://a.example.com/health"),
        (1, "curl -f https://b.example.com/ready"),
    ]
    assert split_recognised("curl -f https://a.example.com/health\n./scripts/smoke.sh x") is None


def test_kubectl_set_image_proposes_the_service_that_would_release_it() -> None:
    command = (
        "kubectl set image deployment/backend-green \\\n"
        "  backend=registry.example.com/backend:v1.1.0 \\\n  -n production"
    )
    found = recognise(command)
    assert found.service == {
        "driver": {
            "kind": "kubernetes",
            "namespace": "production",
            "template_deployment": "backend-green",
            "container": "backend",
            "image": "registry.example.com/backend:{{ version }}",
        },
        "router": {"kind": "service-selector", "service": "backend"},
    }
    assert ServiceSpec.model_validate(found.service).driver.kind == "kubernetes"
    assert recognise("./scripts/deploy-production.sh").service is None


@pytest.mark.parametrize(
    "hostile",
    ["curl " + " " * 50_000 + "x", "revoke-" * 8_000, "your" * 12_000, "restore-" * 8_000],
    ids=["spaces", "revoke", "your", "restore"],
)
def test_a_hostile_command_is_read_in_linear_time(hostile: str) -> None:
    started = time.perf_counter()
    recognise(hostile)
    list(find(hostile))
    assert time.perf_counter() - started < 5  # quadratic patterns took 20 s and more
