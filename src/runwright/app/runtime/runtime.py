"""What every use case needs, opened once: the store, the clock, step kinds, a runbook loader.

Tests build a ``Runtime`` with a ``FakeClock`` and a throwaway database; the CLI builds one
from ``Settings``. Secrets are read here (from the environment mapping or files the runbook
names) and registered for redaction before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runwright.app.runtime.product import Versions, stored
from runwright.app.runtime.release import PLAN_PLACEHOLDERS, product_variables, release_variables
from runwright.app.runtime.settings import Settings
from runwright.engine.chain import KEY_ENV, load_key
from runwright.engine.clock import Clock, SystemClock
from runwright.engine.executor import NullObserver, Observer
from runwright.engine.interrupt import Interrupt
from runwright.engine.private import private_dir
from runwright.engine.processes import owner_dead
from runwright.engine.redact import Redactor
from runwright.engine.scheduler import EngineSettings, Scheduler
from runwright.engine.store import RunRow, Store
from runwright.engine.witness import Witness
from runwright.errors import InputError, RunbookError
from runwright.model.loader import Runbook, build_runbook, load_runbook, load_text
from runwright.model.review import draft_only_secrets
from runwright.model.schema import Environment
from runwright.model.source import Source
from runwright.model.templating import outside
from runwright.steps.analysis import validate_check
from runwright.steps.registry import RegistryExecutor, step_kinds
from runwright.steps.scope import scoped_variables
from runwright.steps.services import Release, StepServices


def parse_markdown(text: str, file: str) -> Source:
    """The Markdown reader, imported when a Markdown runbook is read (YAML ones never pay)."""
    from runwright.model.markdown import parse_markdown as parse

    return parse(text, file)


def read_runbook(path: str | Path) -> Runbook:
    """A runbook file (YAML or Markdown) validated with every step kind and check rule."""
    return load_runbook(path, step_kinds(), parse_markdown, validate_check)


def read_runbook_text(text: str, file: str) -> Runbook:
    """The same for a runbook's text (a run's stored copy)."""
    return load_text(text, file, step_kinds(), parse_markdown, validate_check)


def validate_source(source: Source) -> Runbook:
    """Validate an already-read document (an import, before it is written) like a file."""
    return build_runbook(source, step_kinds(), validate_check)


def runbook_dir(runbook: Runbook) -> Path | None:
    """The directory of the runbook's file (None for one held in memory)."""
    if not runbook.file or runbook.file.startswith("<"):
        return None
    return Path(runbook.file).resolve().parent


@dataclass
class Runtime:
    settings: Settings
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    observer: Observer = field(default_factory=NullObserver)
    interrupt: Interrupt = field(default_factory=Interrupt)

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock | None = None, observer: Observer | None = None
    ) -> Runtime:
        private_dir(settings.state_dir)
        given = {KEY_ENV: settings.audit_key} if settings.audit_key else {}
        store = Store.open(settings.database_url, key=load_key(settings.state_dir, given))
        if settings.witness is not None:
            store.on_run_end = Witness(settings.witness, store.key).run_ended
        return cls(settings, store, clock or SystemClock(), observer or NullObserver())

    def close(self) -> None:
        self.store.close()

    # -- runbooks ---------------------------------------------------------------------------

    def load(self, path: str | Path) -> Runbook:
        return read_runbook(path)

    def load_text(self, text: str, file: str) -> Runbook:
        return read_runbook_text(text, file)

    def environment(self, runbook: Runbook, name: str | None) -> tuple[str, Environment]:
        envs = runbook.environments
        if name is None:
            if len(envs) == 1:
                only = next(iter(envs))
                return only, envs[only]
            if not envs:
                return "default", Environment()
            raise InputError(
                "which environment? this runbook has " + ", ".join(envs), hint="pass -e NAME"
            )
        if name not in envs:
            if not envs and name == "default":
                return name, Environment()
            raise RunbookError(
                f"unknown environment '{name}'",
                file=runbook.file,
                hint="declared: " + (", ".join(envs) or "none"),
            )
        return name, envs[name]

    def secrets(self, runbook: Runbook, *, required: bool) -> dict[str, str]:
        values: dict[str, str] = {}
        env = self.settings.environ
        by_hand = draft_only_secrets(runbook) if required else set()
        for name, secret in runbook.secrets.items():
            value: str | None = None
            if secret.env:
                value = env.get(secret.env)
                where = f"environment variable {secret.env}"
            else:
                where = f"file {secret.file}"
                try:
                    value = Path(str(secret.file)).expanduser().read_text().rstrip("\n")
                except OSError:
                    value = None
            if value is None or value == "":
                if required and name not in by_hand:
                    raise InputError(
                        f"secret '{name}' is not set ({where} is missing or empty)",
                        hint=f"set {where} before deploying",
                    )
                value = "***"
            values[name] = value
        return values

    def variables(
        self,
        runbook: Runbook,
        env_name: str,
        env: Environment,
        *,
        version: str,
        overrides: Mapping[str, Any],
        secrets: Mapping[str, str],
        run_id: int | None,
        initiator: str,
        previous_version: str = "",
        planning: bool = False,
        versions: Versions | None = None,
    ) -> dict[str, Any]:
        given = {k: outside(v, f"--var {k}") for k, v in overrides.items()}
        merged = {**runbook.vars, **env.vars, **given}
        return {
            **merged,
            "vars": merged,
            "version": outside(version, "--version"),
            "environment": env_name,
            "runbook": runbook.name,
            "run_id": run_id if run_id is not None else "<run id>",
            "initiator": initiator,
            "secrets": outside(dict(secrets), "secret"),
            "state_dir": str(self.settings.state_dir),
            "runbook_dir": str(runbook_dir(runbook) or Path.cwd()),
            **release_variables(runbook, outside(previous_version, "the previous version")),
            **(
                product_variables(runbook, versions.target, versions.previous)
                if versions is not None
                else {}
            ),
            **(PLAN_PLACEHOLDERS if planning else {}),
        }

    def runbook_of(self, run: RunRow) -> Runbook:
        """The runbook a run was started with, as the run stored it."""
        return self.load_text(run.runbook_text, run.runbook_file)

    def run_variables(
        self, book: Runbook, run: RunRow, secrets: Mapping[str, str]
    ) -> tuple[str, dict[str, Any]]:
        """The environment's name and the variables a run's steps and messages are rendered
        with."""
        env_name, environment = self.environment(book, run.environment)
        variables = self.variables(
            book,
            env_name,
            environment,
            version=run.version,
            overrides=run.params.get("vars", {}),
            secrets=secrets,
            run_id=run.id,
            initiator=run.initiator,
            previous_version=run.params.get("previous_version", ""),
            versions=stored(run.params),
        )
        return env_name, variables

    def redactor(self, secrets: Mapping[str, str]) -> Redactor:
        return Redactor(v for v in secrets.values() if v != "***")

    def scheduler(self) -> Scheduler[StepServices]:
        return Scheduler(
            self.store,
            RegistryExecutor(),
            self.clock,
            EngineSettings(
                owner=self.settings.owner,
                lease_ttl=self.settings.lease_ttl,
                crash_at=self.settings.crash_at,
                owner_dead=owner_dead,
                interrupt=self.interrupt,
                actor_via=str(self.settings.via),
            ),
            observer=self.observer,
        )

    def _units(
        self, runbook: Runbook, env_name: str, variables: Mapping[str, Any]
    ) -> dict[str, Release]:
        """Each of a product's services with its own driver and router, built with the
        variables its steps see (its version, ``service``, ``services``)."""
        from runwright.app.runtime.services import build_services

        units = {}
        for name in runbook.services:
            scoped = scoped_variables(variables, name)
            plain = {k: v for k, v in scoped.items() if isinstance(v, str | int | float)}
            plain["services"] = scoped.get("services", {})
            units[name] = build_services(
                self.settings, runbook, env_name, plain, unit=name, clock=self.clock
            )
        return units

    async def checked_services(
        self, runbook: Runbook, env_name: str, variables: Mapping[str, Any] | None = None
    ) -> StepServices:
        """The run's services after its driver and router settings were checked against the
        world (read-only): a setting that cannot work is an InputError at its position."""
        services = self.step_services(runbook, env_name, variables)
        from runwright.app.runtime.services import verify_aws_checks, verify_services

        if runbook.service is not None or runbook.services:
            await verify_services(runbook, services)
        verify_aws_checks(runbook)
        return services

    def step_services(
        self,
        runbook: Runbook | None = None,
        env_name: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> StepServices:
        services = StepServices(
            environ=dict(self.settings.environ),
            state_dir=self.settings.state_dir,
            base_dir=runbook_dir(runbook) if runbook is not None else None,
        )
        if runbook is not None and runbook.service is not None:
            from runwright.app.runtime.services import build_services

            plain = {k: v for k, v in (variables or {}).items() if isinstance(v, str | int | float)}
            driver, router, spec = build_services(
                self.settings, runbook, env_name, plain, clock=self.clock
            )
            services = replace(services, driver=driver, router=router, service=spec)
        if runbook is not None and runbook.services:
            services = replace(services, units=self._units(runbook, env_name, variables or {}))
        if runbook is not None and runbook.sinks:
            from runwright.app.runtime.messenger import messenger_for

            services = replace(services, notifier=messenger_for(runbook, variables or {}))
        return services
