"""One hierarchy of errors, so each edge can map a failure to a message and an exit code.

Lower layers raise these (drivers and providers translate library errors at their boundary);
only the edges (cli, web) turn them into text for a person. ``exit_code`` is what the CLI
returns, following the documented contract: 1 run failed or rolled back, 2 bad input,
3 blocked (locked, awaiting approval or settlement, outside a window); ``http_status`` is what
the web answers with (in parentheses after the exit code below).

    RunwrightError (1, 500)
    ├── InputError (2, 400)       bad runbook, flag, reference, or state the user must fix
    │   ├── NotFoundError (2, 404) no such run, step or runbook
    │   ├── RunbookError          carries file, line, column and a hint
    │   └── SettingError          a driver/router setting the world refutes (app adds file:line)
    ├── BlockedError (3, 409)     the run cannot proceed now; a person or time unblocks it
    │   ├── LockedError           another run holds the (runbook, environment) lock
    │   └── PolicyBlocked         outside a window, in a freeze, or promotion rule unmet
    ├── FencedError (3, 409)      this process lost its run's lease: its writes are refused
    └── ActionError (1, 500)      a step, driver or provider failed; ``retryable`` guides retries
        ├── DriverError
        ├── ProviderError
        └── NotifyError           a sink (Slack, webhook, email, status page) refused a message
"""

from __future__ import annotations


class RunwrightError(Exception):
    """Base of every error runwright raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class InputError(RunwrightError):
    """The user gave something we cannot use; nothing was changed."""

    exit_code = 2
    http_status = 400


class NotFoundError(InputError):
    """What the user named (a run, a step, a runbook) does not exist."""

    http_status = 404


class RunbookError(InputError):
    """A runbook problem located at ``file:line:col``."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class SettingError(InputError):
    """A driver or router setting that cannot work (unknown context, missing template...).

    ``setting`` is the key path under the runbook's ``service`` section (``("driver",
    "context")``), which the app layer turns into ``file:line:col``."""

    def __init__(self, message: str, setting: tuple[str, ...], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.setting = setting


class BlockedError(RunwrightError):
    """The run cannot proceed now; someone (or time) must unblock it."""

    exit_code = 3
    http_status = 409


class LockedError(BlockedError):
    """Another run holds the lock for this runbook and environment."""


class PolicyBlocked(BlockedError):
    """A deployment window, a freeze or a promotion rule forbids the run now."""


class FencedError(RunwrightError):
    """This process lost its lease on a run (another worker took it over, or its lock was
    broken): its journal writes are refused and it must not act on the run again."""

    exit_code = 3
    http_status = 409


class ActionError(RunwrightError):
    """An action against the world failed. ``retryable`` says whether trying again may help."""

    exit_code = 1

    def __init__(self, message: str, *, retryable: bool = True, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class DriverError(ActionError):
    """A driver (process manager, router, cloud API) could not change the world as asked."""


class ProviderError(ActionError):
    """A signal provider (Prometheus, scrape, probe, command) could not be read."""


class NotifyError(ActionError):
    """A notification sink could not take a message (unreachable, refused, bad answer)."""
