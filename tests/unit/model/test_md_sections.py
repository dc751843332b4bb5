"""The section classifier, one pattern at a time: which headings go where."""

from __future__ import annotations

import pytest

from runwright.model.md_sections import (
    RULES,
    Place,
    classify,
    describes_deploying,
    environment_of,
)

# heading -> the rule that must claim it (None: an ordinary section, a phase or a sub-part)
CASES = {
    "Method 1: Helm rollback": "alternative",
    "Method 2 - kubectl rollout undo": "alternative",
    "Option A: Automated CI/CD (Recommended)": "alternative",
    "Option B: Manual Deployment": "alternative",
    "Scenario 1: database is down": "alternative",
    "Canary Deployment (Alternative)": "alternative",
    "Database Rollback (if needed)": "conditional",
    "Rollback (if needed)": "conditional",
    "Optional: warm the caches": "conditional",
    "Purge the CDN (optional)": "conditional",
    "Monthly rollback drill (staging)": "drill",
    "Game day": "drill",
    "Chaos testing": "drill",
    "Before next deployment": "prevention",
    "Before the next release": "prevention",
    "Prevention": "prevention",
    "Lessons learned": "prevention",
    "Troubleshooting": "troubleshooting",
    "Rollback is slow": "troubleshooting",
    "Pods stuck in CrashLoopBackOff": "troubleshooting",
    "Common Issues": "troubleshooting",
    "Quick reference": "reference",
    "Command cheat sheet": "reference",
    "Contact Information": "reference",
    "Table of Contents": "reference",
    "Rollback strategy": "strategy",
    "When to Rollback": "strategy",
    "Automatic Rollback Criteria": "strategy",
    "Overview": "strategy",
    "Rollback Procedures": "rollback",
    "Rolling Back Migrations": "rollback",
    "Revert the config": "rollback",
    "Emergency Procedures": "procedure",
    "Monitoring and Alerting": "procedure",
    "Deploy to staging": None,
    "Production Deployment": None,
    "Option pricing service deploy": None,
    "Approach: Expand-Contract Pattern": None,
    "Alternative: blue-green by hand": "alternative",
    "Option 2) kubectl": "alternative",
    "Database Migrations": None,
    "Or via kubectl:": "fallback",
    "Alternatively, redeploy the previous tag": "fallback",
    "If automated rollback fails": "fallback",
    "If the health check still failing": "fallback",
    "Restore from Backup (if migration rollback fails)": "fallback",
    "Restore the database (if absolutely necessary)": "conditional",
    "Stop the workers (if still running)": "conditional",
    "Orchestrate the release": None,
    "If you deploy on Fridays": None,
}
# headings below the top level only: a rollback in two degrees is a choice, never a sequence
NESTED = {
    "Immediate Rollback": "escalation",
    "Quick Rollback (< 5 minutes)": "escalation",
    "Full Rollback (with database)": "escalation",
}


@pytest.mark.parametrize(("heading", "rule"), sorted(CASES.items()))
def test_each_heading_goes_to_its_rule(heading: str, rule: str | None) -> None:
    found = classify(heading)
    assert (found.name if found else None) == rule


@pytest.mark.parametrize(("heading", "rule"), sorted(NESTED.items()))
def test_a_rollback_in_degrees_is_a_choice_below_the_top_level(heading: str, rule: str) -> None:
    found = classify(heading, top=False)
    assert (found.name if found else None) == rule
    assert found is not None
    assert found.place is Place.ALTERNATIVE
    top = classify(heading, top=True)
    assert top is not None
    assert top.name == "rollback"


def test_every_rule_is_exercised_and_maps_to_a_place() -> None:
    assert {r.name for r in RULES} == {v for v in (CASES | NESTED).values() if v}
    places = {r.name: r.place for r in RULES}
    assert places["alternative"] is Place.ALTERNATIVE
    assert places["conditional"] is Place.OPTIONAL
    assert places["prevention"] is Place.PREDEPLOY
    assert places["drill"] is places["troubleshooting"] is Place.PROCEDURE
    assert places["reference"] is places["strategy"] is Place.NOTE


def test_generic_procedure_words_only_claim_top_level_sections() -> None:
    assert classify("Deployment Monitoring", top=False) is None
    assert classify("Deployment Monitoring", top=True) is not None
    assert classify("Rollback is slow", top=False) is not None


def test_headings_with_numbering_emoji_and_markup_are_read_by_their_words() -> None:
    assert classify("### 2. **Option A**: Blue-green") is not None
    assert classify("🔄 Rollback Procedures") is not None


@pytest.mark.parametrize(
    ("heading", "env", "deploying"),
    [
        ("Deploy to staging", "staging", True),
        ("Production Deployment", "production", True),
        ("Staging Validation", "staging", False),
        ("Monthly rollback drill (staging)", None, False),
        ("Troubleshooting production", None, False),
        ("Staging and production", None, False),
        ("Development Deployment", "development", True),
        ("Post-Deployment Verification", None, False),
    ],
)
def test_environment_comes_only_from_headings_about_deploying(
    heading: str, env: str | None, deploying: bool
) -> None:
    rule = classify(heading)
    assert environment_of(heading, rule) == env
    assert describes_deploying(heading, rule) is deploying
