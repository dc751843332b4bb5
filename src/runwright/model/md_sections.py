"""What a section of a Markdown runbook is for, read from its heading.

People put much more than the deploy sequence in a runbook: alternative ways of doing one
thing ("Method 1 / 2", "Option A / B"), troubleshooting, drills, reference tables, strategy
notes, prevention checklists "before the next deployment". Read as one sequence, these run
one after another or deploy a deliberately bad image. Each rule below names a kind of
section, the pattern that recognises its heading, and where its content goes; the first rule
that matches wins, so the order is part of the data. ``tests/unit/model/test_md_sections.py``
tests every pattern, and ``tests/fixtures/markdown/`` holds a runbook per kind.

Which environment a section belongs to is read from the same headings: "Deploy to staging"
puts its steps in staging only; a drill that names staging does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Place(StrEnum):
    """Where the content of a section goes."""

    ROLLBACK = "rollback"  # the rollback sequence
    PROCEDURE = "procedure"  # a named procedure, run on demand (run-procedure)
    ALTERNATIVE = "alternative"  # a named procedure, and one choice of a gate in its parent
    OPTIONAL = "optional"  # a named procedure, and a gate in its parent: done, or not needed
    PREDEPLOY = "predeploy"  # a gate that runs before the first phase
    NOTE = "note"  # text only: kept as a description, nothing runs


# Gates the reader puts where alternatives or optional sections were: they ask which
# procedure was carried out, so they do not confirm the command that follows them (lint).
CHOICE_GATE = "choose one: "
IF_NEEDED_GATE = "if needed: "


@dataclass(frozen=True)
class SectionRule:
    name: str
    place: Place
    pattern: re.Pattern[str]
    top_only: bool = False  # only a top-level section (usually ``##``) is read this way
    nested_only: bool = False  # only a section below the top level is read this way


def _rule(
    name: str, place: Place, pattern: str, *, top_only: bool = False, nested_only: bool = False
) -> SectionRule:
    return SectionRule(name, place, re.compile(pattern, re.I), top_only, nested_only)


RULES: tuple[SectionRule, ...] = (
    _rule("drill", Place.PROCEDURE, r"\bdrills?\b|game ?day|\bchaos\b|fire ?drill|\bpractice\b"),
    _rule(
        "conditional",
        Place.OPTIONAL,
        r"\((?:only )?(?:if|when) (?:needed|(?:absolutely )?necessary|required|applicable"
        r"|still running|possible)\)|\(optional\)"
        r"|^optional\b|^(?:only )?if (?:needed|necessary)\b",
    ),
    _rule(
        "alternative",
        Place.ALTERNATIVE,
        r"^(?:method|option|approach|variant|scenario|path|plan)\s+(?:\d+|[a-h]|[ivx]+|one|two"
        r"|three|four)\b|^alternative\b|\((?:an? )?alternative\)",
    ),
    _rule(
        "fallback",
        Place.ALTERNATIVE,
        r"^or\b|^alternatively\b|^if\b[^:]{0,60}?\b(?:fails?|failed|unsuccessful|(?:does|did)n[o']?t"
        r" work|not working|still (?:failing|broken|down))\b|\(if\b[^)]{0,60}\b(?:fails?|failed)\)",
    ),
    _rule(
        "escalation",
        Place.ALTERNATIVE,
        r"^(?:immediate|quick|fast|full|complete|partial|minimal)\s+(?:rollback|roll-back"
        r"|revert|recovery|restore)\b",
        nested_only=True,
    ),
    _rule(
        "prevention",
        Place.PREDEPLOY,
        r"before (?:the |your )?next (?:deploy|release)|\bprevention\b|\bpreventing\b"
        r"|lessons learned|action items",
    ),
    _rule(
        "troubleshooting",
        Place.PROCEDURE,
        r"troubleshoot|common (?:issues|problems|errors)|\bdebugg?ing\b|\bfaq\b"
        r"|\bis (?:slow|stuck|failing|hanging)\b|\b(?:fails|failed|hangs|stuck)\b"
        r"|not working|\bknown issues\b",
    ),
    _rule(
        "reference",
        Place.NOTE,
        r"\breference\b|cheat ?sheet|\bcontacts?\b|table of contents|^contents$|\bglossary\b"
        r"|\bappendix\b|useful (?:commands|links)|\blinks\b|\bresources\b|escalation",
    ),
    _rule(
        "strategy",
        Place.NOTE,
        r"\bstrateg(?:y|ies)\b|when to roll ?back|when to revert|decision|\bcriteria\b"
        r"|best practices|\boverview\b|\bprinciples\b|\bbackground\b|\bscope\b",
    ),
    _rule("rollback", Place.ROLLBACK, r"\broll(?:ing|ed)?[\s-]?back|\brevert"),
    _rule(
        "procedure",
        Place.PROCEDURE,
        r"emergenc|incident|disaster|outage|recovery|maintenance|monitoring|alerting",
        top_only=True,
    ),
)

ENVIRONMENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("development", re.compile(r"\bdev(?:elopment)?\b", re.I)),
    ("staging", re.compile(r"\bstag(?:ing|e)\b", re.I)),
    ("production", re.compile(r"\bprod(?:uction)?\b", re.I)),
)
DEPLOYING = re.compile(
    r"deploy|release|roll[\s-]?out|promot|go[\s-]?live|launch|cut[\s-]?over|upgrade|environment",
    re.I,
)
_NOT_AN_ENVIRONMENT = {"drill", "troubleshooting", "reference", "strategy", "procedure"}


def classify(
    heading: str, *, top: bool = True, exclude: frozenset[str] = frozenset()
) -> SectionRule | None:
    """The first rule whose pattern matches ``heading``; None for an ordinary section.
    ``exclude`` names rules not to apply (an "Immediate rollback" with no "Full" beside it)."""
    text = re.sub(r"[*_`#]+", "", heading).strip()
    text = re.sub(r"^[^\w(]+", "", text)
    text = re.sub(r"^(?:step\s+)?\d+(?:\.\d+)*[.):]?\s+", "", text, flags=re.I)
    rules = (
        rule
        for rule in RULES
        if (top or not rule.top_only)
        and not (top and rule.nested_only)
        and rule.name not in exclude
    )
    return next((rule for rule in rules if rule.pattern.search(text)), None)


def paired_degrees(headings: list[tuple[int, int, str]]) -> set[int]:
    """The lines of "Immediate / Full rollback" headings that have a sibling of the same kind
    under the same parent: only those are a choice; a lone "Immediate rollback" is the rollback.
    ``headings`` are (line, level, text) in document order."""
    groups: dict[tuple[int, int], list[int]] = {}
    parents: list[tuple[int, int]] = []  # (level, line) of the open headings
    for line, level, text in headings:
        while parents and parents[-1][0] >= level:
            parents.pop()
        rule = classify(text, top=False)
        if rule is not None and rule.name == "escalation":
            groups.setdefault((parents[-1][1] if parents else 0, level), []).append(line)
        parents.append((level, line))
    return {line for lines in groups.values() if len(lines) > 1 for line in lines}


def is_label_section(label: str) -> bool:
    """A bold label ("**Method 2: helm rollback**") that starts an alternative or optional part."""
    rule = classify(label, top=False, exclude=frozenset({"escalation"}))
    return rule is not None and rule.place in (Place.ALTERNATIVE, Place.OPTIONAL)


def environment_of(heading: str, rule: SectionRule | None) -> str | None:
    """The environment a heading puts its steps in ("Deploy to staging"), else None."""
    if rule is not None and rule.name in _NOT_AN_ENVIRONMENT:
        return None
    found = [name for name, pattern in ENVIRONMENTS if pattern.search(heading)]
    return found[0] if len(found) == 1 else None


# An environment named in a command: ``-n prod``, ``environment=production``,
# ``deploy-staging.sh``, ``staging.example.com`` (never ``/dev/null``).
IN_COMMANDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("development", re.compile(r"(?<![/\w])dev(?:elopment)?\b(?!/)", re.I)),
    ("staging", re.compile(r"(?<!\w)stag(?:ing|e)\b", re.I)),
    ("production", re.compile(r"(?<!\w)prod(?:uction)?\b", re.I)),
)


def commands_environment(command: str) -> str | None:
    """The one environment a command names, None for none or several."""
    found = [name for name, pattern in IN_COMMANDS if pattern.search(command)]
    return found[0] if len(found) == 1 else None


def describes_deploying(heading: str, rule: SectionRule | None) -> bool:
    """Whether a heading that names an environment is about deploying to it."""
    return environment_of(heading, rule) is not None and bool(DEPLOYING.search(heading))
