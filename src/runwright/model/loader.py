"""Load a runbook file into a validated ``Runbook``, or fail with ``file:line:col`` and a hint.

The loader is the single door through which runbooks enter: YAML files here, Markdown files
through ``runwright.model.markdown`` which yields the same document shape. Step kinds are
passed in (``kinds``: YAML key -> pydantic model of the kind's parameters) because they live
in a higher layer.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from runwright.errors import InputError, RunbookError
from runwright.model.checks import (
    DEFAULT_PROVIDER,
    PROVIDERS,
    AnyCheck,
    unknown_key_hint,
)
from runwright.model.notify import Subscription
from runwright.model.product import product_errors
from runwright.model.release import (
    COUNTING_ROUTERS,
    SECTION_KINDS,
)
from runwright.model.schema import (
    Environment,
    Procedure,
    RunbookFields,
    RunbookFrame,
    Secret,
    Step,
    StepCommon,
)
from runwright.model.shell_checks import quoting_errors
from runwright.model.source import PathKey, Source, parse_yaml, read_text
from runwright.model.templating import problem
from runwright.model.versions import check_version


@dataclass(frozen=True)
class Kinds:
    """The step kinds a runbook may name, as the steps layer's registry gives them: each YAML
    key's parameter model (for the vocabulary of did-you-mean hints) and the registry's own
    ``validate`` (the one place step parameters are validated)."""

    models: Mapping[str, type[BaseModel]]
    validate: Callable[[str, object], BaseModel]

    def __contains__(self, key: object) -> bool:
        return key in self.models

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)


CheckRules = Callable[[str, AnyCheck], None]


class ResolvedPhase(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    description: str = ""
    steps: list[Step]


class Runbook(RunbookFields[ResolvedPhase, Step, list[Step]]):
    """A validated runbook with every step's kind resolved and parameters checked: the
    frame's sections (``RunbookFields``), what the loader derives from them, and its source."""

    smoke: list[Step] = Field(default_factory=list)
    service_smoke: dict[str, list[Step]] = Field(default_factory=dict)
    procedure_text: dict[str, str] = Field(default_factory=dict)
    file: str = "<memory>"
    text: str = ""
    digest: str = ""

    def steps(self) -> list[tuple[str, Step]]:
        return [(phase.name, step) for phase in self.phases for step in phase.steps]

    def check_version(self, version: str) -> None:
        """Refuse a version the runbook's ``version_pattern`` (or the default) rejects."""
        check_version(version, self.version_pattern, self.file)


def _hint(key: str, vocabulary: Iterable[str]) -> str:
    """A spelling close to a known key; a key known elsewhere is out of place, not misspelt."""
    words = list(vocabulary)
    if key in words:
        return f"'{key}' is not a key at this level: check the indentation, or remove it"
    close = difflib.get_close_matches(key, words, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else "remove it or check the spelling"


def _vocabulary(kinds: Kinds) -> set[str]:
    words: set[str] = set(kinds)
    models: list[type[BaseModel]] = [
        RunbookFrame,
        Environment,
        StepCommon,
        Secret,
        Procedure,
        *kinds.models.values(),
    ]
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            words.add(info.alias or name)
            annotation = info.annotation
            for arg in getattr(annotation, "__args__", ()) or (annotation,):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    models.append(arg)
    return words


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the discriminator pydantic puts in a tagged section's path (``driver.kubernetes.x``
    is ``driver.x`` in the file)."""
    out: list[Any] = []
    for part in loc:
        if out and out[-1] in ("driver", "router") and part in SECTION_KINDS:
            continue
        if len(out) == 2 and out[0] == "checks" and part in PROVIDERS:
            continue
        out.append(part)
    return tuple(out)


def _pydantic_errors(
    exc: ValidationError, source: Source, base: PathKey, vocabulary: Iterable[str]
) -> list[RunbookError]:
    out: list[RunbookError] = []
    seen: set[PathKey] = set()
    for err in exc.errors():
        loc = tuple(
            part
            for part in err["loc"]
            if not (
                isinstance(part, str)
                and (
                    part.startswith("function-")
                    or part
                    in {
                        "str",
                        "dict[str,any]",
                        "list[str]",
                        "int",
                        "float",
                        "bool",
                        "datetime",
                        "date",
                    }
                )
            )
        )
        loc = _without_tags(loc)
        path: PathKey = (*base, *loc)
        if path in seen:
            continue
        seen.add(path)
        kind = err["type"]
        dotted = ".".join(str(p) for p in path) or "(top level)"
        if path[:1] == ("checks",) and len(path) > 1:
            out.append(_check_error(source, err, path))
        elif kind == "extra_forbidden" and loc:
            key = str(loc[-1])
            out.append(
                source.error(f"unknown key '{key}'", path, key=True, hint=_hint(key, vocabulary))
            )
        elif kind == "missing" and loc:
            out.append(
                source.error(
                    f"missing required key '{loc[-1]}'", path[:-1], hint=f"add '{loc[-1]}:' here"
                )
            )
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            got = err.get("input")
            if isinstance(got, str | int | float | bool) and kind != "value_error":
                message += f" (got {got!r})"
            out.append(source.error(f"{dotted}: {message}", path))
    return out


def _check_error(source: Source, err: ErrorDetails, path: PathKey) -> RunbookError:
    """A problem in a ``checks:`` entry, said of the check, with the keys its provider takes."""
    name, rest = str(path[1]), [str(p) for p in path[2:]]
    raw = err["loc"]
    provider = str(raw[2]) if len(raw) > 2 and raw[2] in PROVIDERS else DEFAULT_PROVIDER
    if err["type"] == "extra_forbidden" and rest:
        hint = unknown_key_hint(rest[-1], provider)
        return source.error(f"check '{name}': unknown key '{rest[-1]}'", path, key=True, hint=hint)
    if err["type"] == "missing" and rest:
        return source.error(
            f"check '{name}': missing required key '{rest[-1]}'",
            path[:-1],
            hint=f"add '{rest[-1]}:' here",
        )
    message = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    if isinstance(got, str | int | float | bool) and err["type"] != "value_error":
        message += f" (got {got!r})"
    if message.startswith("unknown provider") and not rest:
        path = (*path, "provider")
    at = f"{'.'.join(rest)}: " if rest and not message.startswith(rest[-1]) else ""
    return source.error(f"check '{name}': {at}{message}", path)


class _Resolver:
    def __init__(self, source: Source, kinds: Kinds) -> None:
        self.source = source
        self.kinds = kinds
        self.vocabulary = _vocabulary(kinds)
        self.errors: list[RunbookError] = []
        self.names: dict[str, PathKey] = {}
        self.lines: list[str] | None = None

    def step(
        self, raw: object, path: PathKey, *, default_name: str, unique: bool = True
    ) -> Step | None:
        kind = self._action(raw, path)
        if kind is None or not isinstance(raw, dict):
            return None
        src = self.source
        ok = True
        try:
            params = self.kinds.validate(kind, raw[kind])
        except ValidationError as exc:
            self.errors.extend(_pydantic_errors(exc, src, (*path, kind), self.vocabulary))
            ok = False
        common = {k: v for k, v in raw.items() if k != kind}
        try:
            base = StepCommon.model_validate(common)
        except ValidationError as exc:
            self.errors.extend(_pydantic_errors(exc, src, path, self.vocabulary))
            ok = False
        if not ok:
            return None
        name = base.name or default_name
        if unique and not self._claim(name, path):
            return None
        undo_step: Step | None = None
        if isinstance(base.undo, str):
            undo_step = self.step(
                {"run": base.undo, "name": f"undo {name}"},
                (*path, "undo"),
                default_name=f"undo {name}",
                unique=False,
            )
        elif isinstance(base.undo, dict):
            undo_raw = {"name": f"undo {name}", **base.undo}
            undo_step = self.step(
                undo_raw, (*path, "undo"), default_name=f"undo {name}", unique=False
            )
        pos = src.positions.of(path)
        return Step(
            **base.model_dump(exclude={"name"}),
            name=name,
            kind=kind,
            params=params.model_dump(mode="json", by_alias=True),
            undo_step=undo_step,
            line=pos[0] if pos else None,
            command_line=self.value_line((*path, kind)),
        )

    def _action(self, raw: object, path: PathKey) -> str | None:
        """The one action key of a step mapping; None (with errors recorded) otherwise."""
        src = self.source
        if isinstance(raw, str):
            self.errors.append(
                src.error(
                    "a step must be a mapping such as '- run: ./deploy.sh'",
                    path,
                    hint=f"write '- run: {raw}' for a shell command",
                )
            )
            return None
        if not isinstance(raw, dict):
            self.errors.append(src.error("a step must be a mapping with an action key", path))
            return None
        actions = [k for k in raw if k in self.kinds]
        if not actions:
            self._no_action(raw, path)
            return None
        if len(actions) > 1:
            self.errors.append(
                src.error(
                    f"step has several actions ({', '.join(actions)}); a step does one thing",
                    (*path, actions[1]),
                    key=True,
                    hint="split it into separate steps",
                )
            )
            return None
        return str(actions[0])

    def _no_action(self, raw: dict[Any, Any], path: PathKey) -> None:
        src = self.source
        common_keys = set(StepCommon.model_fields)
        unknown = [k for k in raw if k not in common_keys]
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(self.kinds), n=1, cutoff=0.5)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "step actions are: " + ", ".join(sorted(self.kinds))
            )
            self.errors.append(src.error(f"unknown key '{key}'", (*path, key), key=True, hint=hint))
        if not unknown:
            self.errors.append(
                src.error(
                    "step has no action",
                    path,
                    hint="add one of: " + ", ".join(sorted(self.kinds)),
                )
            )

    def _claim(self, name: str, path: PathKey) -> bool:
        """Record a step name; False (with an error) when another step already has it."""
        if name in self.names:
            first = self.source.positions.of(self.names[name])
            self.errors.append(
                self.source.error(
                    f"two steps are named '{name}'",
                    path,
                    hint=f"names identify steps in settle and reports; first one is at line "
                    f"{first[0] if first else '?'}",
                )
            )
            return False
        self.names[name] = path
        return True

    def value_line(self, path: PathKey) -> int | None:
        """The line a value's text starts on (the line after ``key: |`` for a block scalar)."""
        pos = self.source.positions.of(path)
        if pos is None:
            return None
        if self.lines is None:
            self.lines = self.source.text.split("\n")
        line, col = pos
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return line + 1 if text[col - 1 : col] in ("|", ">") else line

    def steps(
        self, raws: list[Any], path: PathKey, prefix: str, *, unique: bool = True
    ) -> list[Step]:
        out = []
        for index, raw in enumerate(raws):
            step = self.step(
                raw, (*path, index), default_name=f"{prefix}{index + 1}", unique=unique
            )
            if step is not None:
                out.append(step)
        return out


def _raise(errors: list[RunbookError]) -> None:
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    first = errors[0]
    more = "\n".join(str(e) for e in errors[1:10])
    extra = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
    head = f"{first.message} ({first.hint})" if first.hint else first.message
    raise RunbookError(
        f"{head}\n{more}{extra}",
        file=first.file,
        line=first.line,
        column=first.column,
    )


def build_runbook(source: Source, kinds: Kinds, check_rules: CheckRules | None = None) -> Runbook:
    """Validate a parsed document (YAML or Markdown-derived) into a Runbook.

    ``check_rules(name, check)`` (from the steps layer, which knows the providers) raises
    InputError for a check that could never be measured, so it is refused here, with its
    position, rather than when a release is half done."""
    data = source.data
    if data is None:
        raise RunbookError(
            "the runbook is empty", file=source.file, line=1, column=1,
            hint="start with 'name: my-service'",
        )  # fmt: skip
    if not isinstance(data, dict):
        raise source.error(
            "a runbook must be a mapping at the top level", hint="start with 'name: my-service'"
        )
    vocabulary = _vocabulary(kinds)
    try:
        frame = RunbookFrame.model_validate(data)
    except ValidationError as exc:
        _raise(_pydantic_errors(exc, source, (), vocabulary))
        raise AssertionError("unreachable") from exc
    resolver = _Resolver(source, kinds)
    phases = []
    for p_index, phase in enumerate(frame.phases):
        steps = resolver.steps(phase.steps, ("phases", p_index, "steps"), f"{phase.name} step ")
        phases.append(ResolvedPhase(name=phase.name, description=phase.description, steps=steps))
    rollback = resolver.steps(frame.rollback, ("rollback",), "rollback step ")
    smoke = (
        resolver.steps(frame.release.smoke, ("release", "smoke"), "smoke ")
        if (frame.release)
        else []
    )
    service_smoke = {
        name: resolver.steps(
            spec.release.smoke, ("services", name, "release", "smoke"), "smoke ", unique=False
        )
        for name, spec in frame.services.items()
    }
    resolver.errors.extend(_frame_errors(source, frame, check_rules))
    procedures = {
        name: resolver.steps(
            proc.steps, ("procedures", name, "steps"), f"{name} step ", unique=False
        )
        for name, proc in frame.procedures.items()
    }
    resolver.errors.extend(_environment_errors(source, frame))
    resolver.errors.extend(_template_problems(source, data))
    resolver.errors.extend(quoting_errors(source, data))
    _raise(resolver.errors)
    shared = {key: getattr(frame, key) for key in RunbookFields.model_fields}
    return Runbook(
        **{**shared, "phases": phases, "rollback": rollback, "procedures": procedures},
        smoke=smoke,
        service_smoke=service_smoke,
        procedure_text={n: p.description for n, p in frame.procedures.items()},
        file=source.file,
        text=source.text,
        digest=hashlib.sha256(source.text.encode()).hexdigest(),
    )


def _frame_errors(
    source: Source, frame: RunbookFrame, check_rules: CheckRules | None
) -> list[RunbookError]:
    """What is wrong across sections: services, releases, checks, sinks, environments."""
    errors = product_errors(
        source,
        frame.services,
        shorthand=frame.service is not None,
        release=frame.release is not None,
    )
    errors += _release_errors(source, frame)
    errors += _unknown_checks(source, frame)
    errors += _unknown_step_environments(source, frame)
    errors += _router_checks_without_service(source, frame)
    misfit = frame.service.misfit() if frame.service is not None else None
    if misfit is not None:
        message, where = misfit
        errors.append(
            source.error(f"service: {message}", ("service", *where), hint="see docs/drivers.md")
        )
    errors += _unknown_sinks(source, frame)
    if check_rules is not None:
        errors += _check_rules(source, frame, check_rules)
    return errors


def _release_errors(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """A ``release`` section needs a service to start and phases its ``after`` names."""
    errors: list[RunbookError] = []
    names = {p.name for p in frame.phases}
    for service, spec in frame.services.items():
        errors += _unknown_phases(
            source, spec.release.after, ("services", service, "release", "after"), names
        )
    if frame.release is None:
        return errors
    if frame.service is None and not frame.services:
        errors.append(
            source.error(
                "'release' needs a 'service' section saying how to start a version",
                ("release",),
                hint="add service: {command: '...--port {{ port }}', health: /health}",
            )
        )
    return errors + _unknown_phases(source, frame.release.after, ("release", "after"), names)


def _unknown_phases(
    source: Source, after: list[str], path: PathKey, names: set[str]
) -> list[RunbookError]:
    return [
        source.error(
            f"release.after names unknown phase '{phase}'",
            (*path, n),
            hint="phases: " + ", ".join(sorted(names)),
        )
        for n, phase in enumerate(after)
        if phase not in names
    ]


def _environment_errors(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """Environments that require unknown ones, secrets with neither or both sources."""
    errors: list[RunbookError] = []
    for env_name, env in frame.environments.items():
        if env.requires and env.requires not in frame.environments:
            errors.append(
                source.error(
                    f"environment '{env_name}' requires unknown environment '{env.requires}'",
                    ("environments", env_name, "requires"),
                    hint="declared environments: " + ", ".join(frame.environments),
                )
            )
    for name, secret in frame.secrets.items():
        if bool(secret.env) == bool(secret.file):
            errors.append(
                source.error(
                    f"secret '{name}' needs exactly one of 'env' or 'file'",
                    ("secrets", name),
                    hint=f"for example: {name}: {{env: {name}}}",
                )
            )
    return errors


_PROSE = {"description", "procedure_text", "source"}


def _template_problems(source: Source, data: Any) -> list[RunbookError]:
    """Templates that can never render (syntax errors, ``{% include %}``...), found at load
    time with their position rather than when a step runs."""
    errors: list[RunbookError] = []
    stack: list[tuple[PathKey, Any]] = [((), data)]
    while stack and len(errors) < 10:
        path, value = stack.pop()
        if isinstance(value, str):
            reason = problem(value)
            if reason is not None:
                errors.append(source.error(reason, path, hint="check the {{ }} and {% %} tags"))
        elif isinstance(value, dict):
            stack.extend(((*path, str(k)), v) for k, v in value.items() if k not in _PROSE)
        elif isinstance(value, list):
            stack.extend(((*path, n), v) for n, v in enumerate(value))
    return sorted(errors, key=lambda e: (e.line or 0, e.column or 0))


def _router_checks_without_service(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """A ``provider: router`` check reads the runbook's service router; without a service
    there is none, which is better said now than when a release is half done."""
    routers = [s.router.kind for s in frame.services.values() if s.router is not None]
    if frame.services and any(kind in COUNTING_ROUTERS for kind in routers):
        return []
    if frame.services and routers:
        kinds = ", ".join(sorted(set(routers)))
        return [
            source.error(
                f"check '{name}' reads the router, but the services' routers ({kinds}) keep "
                "no counters",
                ("checks", name, "provider"),
                hint="use provider: prometheus (your ingress or mesh metrics) or scrape",
            )
            for name, check in frame.checks.items()
            if check.provider == "router"
        ]
    if frame.service is not None:
        kind = frame.service.router.kind
        if kind in COUNTING_ROUTERS:
            return []
        return [
            source.error(
                f"check '{name}' reads the router, but the {kind} router keeps no counters",
                ("checks", name, "provider"),
                hint="use provider: prometheus (your ingress or mesh metrics) or scrape",
            )
            for name, check in frame.checks.items()
            if check.provider == "router"
        ]
    return [
        source.error(
            f"check '{name}' reads the router, but the runbook declares no service",
            ("checks", name, "provider"),
            hint="declare service: (its router carries the traffic), or use provider: "
            "scrape with the url of a /metrics page",
        )
        for name, check in frame.checks.items()
        if check.provider == "router"
    ]


def _step_lists(frame: RunbookFrame) -> list[tuple[list[Any], PathKey]]:
    """Every list of raw steps in the runbook (phases, rollback, procedures) with its path."""
    lists: list[tuple[list[Any], PathKey]] = [
        (p.steps, ("phases", n, "steps")) for n, p in enumerate(frame.phases)
    ]
    lists.append((frame.rollback, ("rollback",)))
    lists += [(p.steps, ("procedures", name, "steps")) for name, p in frame.procedures.items()]
    return lists


def _undeclared_hint(name: str, known: list[str], section: str) -> str:
    """For a name no entry of ``section`` declares: a close spelling, else the declared ones."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"declare it under {section}:, or use one of: " + (", ".join(known) or "none")


def _unknown_sinks(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """Subscriptions (the runbook's and each environment's) must name a declared sink."""
    known = sorted(frame.sinks)
    places: list[tuple[list[Subscription], PathKey]] = [(frame.notify, ("notify",))]
    places += [(env.notify, ("environments", n, "notify")) for n, env in frame.environments.items()]
    refs: list[tuple[str, PathKey]] = [
        (sub.to, (*path, index, "to")) for subs, path in places for index, sub in enumerate(subs)
    ]
    for raws, path in _step_lists(frame):
        for index, raw in enumerate(raws):
            params = raw.get("notify") if isinstance(raw, dict) else None
            to = params.get("to") if isinstance(params, dict) else None
            if isinstance(to, list):
                refs += [(n, (*path, index, "notify", "to", i)) for i, n in enumerate(to)]
    errors: list[RunbookError] = []
    for name, where in refs:
        if not isinstance(name, str) or name in frame.sinks:
            continue
        hint = _undeclared_hint(name, known, "sinks")
        errors.append(source.error(f"unknown sink '{name}'", where, hint=hint))
    return errors


def _unknown_checks(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """Check names that a release or an analysis/wait step references but nobody declared."""
    known = sorted(frame.checks)
    refs: list[tuple[object, PathKey]] = []
    if frame.release is not None:
        refs.append((frame.release.analysis, ("release", "analysis")))
    for service, spec in frame.services.items():
        refs.append((spec.release.analysis, ("services", service, "release", "analysis")))
    for raws, path in _step_lists(frame):
        for index, raw in enumerate(raws):
            if not isinstance(raw, dict):
                continue
            for kind, key in (("analysis", "checks"), ("wait", "analysis")):
                params = raw.get(kind)
                if isinstance(params, dict):
                    refs.append((params.get(key), (*path, index, kind, key)))
    errors: list[RunbookError] = []
    for names, path in refs:
        if not isinstance(names, list):
            continue
        for n, name in enumerate(names):
            if not isinstance(name, str) or name in frame.checks:
                continue
            hint = _undeclared_hint(name, known, "checks")
            errors.append(source.error(f"unknown check '{name}'", (*path, n), hint=hint))
    return errors


def _unknown_step_environments(source: Source, frame: RunbookFrame) -> list[RunbookError]:
    """A step limited to an environment the runbook does not declare would never run."""
    if not frame.environments:
        return []
    places: list[tuple[list[Any], PathKey]] = [
        (p.steps, ("phases", n, "steps")) for n, p in enumerate(frame.phases)
    ]
    places.append((frame.rollback, ("rollback",)))
    places += [(p.steps, ("procedures", name, "steps")) for name, p in frame.procedures.items()]
    errors: list[RunbookError] = []
    for raws, path in places:
        for index, raw in enumerate(raws):
            names = raw.get("environments") if isinstance(raw, dict) else None
            for n, name in enumerate(names if isinstance(names, list) else []):
                if name not in frame.environments:
                    errors.append(
                        source.error(
                            f"step limited to unknown environment '{name}'",
                            (*path, index, "environments", n),
                            hint="declared environments: " + ", ".join(frame.environments),
                        )
                    )
    return errors


def _check_rules(source: Source, frame: RunbookFrame, rules: CheckRules) -> list[RunbookError]:
    errors: list[RunbookError] = []
    for name, check in frame.checks.items():
        try:
            rules(name, check)
        except InputError as exc:
            errors.append(source.error(exc.message, ("checks", name), hint=exc.hint))
    return errors


MarkdownParser = Callable[[str, str], Source]


def load_text(
    text: str,
    file: str,
    kinds: Kinds,
    markdown: MarkdownParser | None = None,
    check_rules: CheckRules | None = None,
) -> Runbook:
    if file.lower().endswith((".md", ".markdown")):
        if markdown is None:
            raise RunbookError("Markdown runbooks are not supported by this build", file=file)
        return build_runbook(markdown(text, file), kinds, check_rules)
    return build_runbook(parse_yaml(text, file), kinds, check_rules)


def load_runbook(
    path: str | Path,
    kinds: Kinds,
    markdown: MarkdownParser | None = None,
    check_rules: CheckRules | None = None,
) -> Runbook:
    p = Path(path)
    return load_text(read_text(p), str(path), kinds, markdown, check_rules)
