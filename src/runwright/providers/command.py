"""Read a signal from any shell command, for the numbers only a team's own script knows.

Hand-written runbooks watch things no metrics endpoint exposes (queue depth through a CLI, a row
count, a cloud console figure). The query is a shell command run with ``/bin/sh -c``; the value
is the *last number it prints* on stdout (so a script may log before its answer). A command that
prints no number has no data. A command that exits non-zero, or runs past the timeout (it is
killed with its whole process group), raises ProviderError carrying the end of its stderr.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from runwright.engine.clock import Clock
from runwright.engine.spawn import NotStarted, run_script
from runwright.errors import ProviderError
from runwright.providers.base import Measurement, clean_value

logger = logging.getLogger(__name__)

_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)(?![\w.])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CommandSettings:
    """How commands run: timeout, shell, working directory and environment.

    ``env`` None inherits runwright's environment; otherwise it is the whole environment.
    """

    timeout_seconds: float = 30.0
    shell: str = "/bin/sh"
    cwd: str | None = None
    env: Mapping[str, str] | None = None


def last_number(text: str) -> float | None:
    """The last number in ``text`` (``12``, ``-0.5``, ``1e-3``, ``NaN``, ``inf``), or None."""
    found = _NUMBER.findall(text)
    return float(found[-1]) if found else None


class CommandProvider:
    """Runs the query as a shell command and reads the last number it prints."""

    def __init__(self, settings: CommandSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock

    async def measure(self, query: str) -> Measurement:
        at = self._clock.now()
        s = self.settings
        try:
            done = await run_script(
                query,
                timeout=s.timeout_seconds,
                clock=self._clock,
                shell=s.shell,
                cwd=s.cwd,
                env=s.env,
            )
        except NotStarted as exc:
            raise ProviderError(
                f"cannot start {s.shell} for command {query!r}: {exc.error}", retryable=False
            ) from exc
        except TimeoutError:
            raise ProviderError(
                f"command {query!r} did not finish within {s.timeout_seconds:g}s and was killed",
                hint="make it faster or raise the provider's timeout",
            ) from None
        out = done.out
        if done.code != 0:
            tail = done.err.strip()[-300:] or out.strip()[-300:]
            raise ProviderError(
                f"command {query!r} exited with status {done.code}" + (f": {tail}" if tail else "")
            )
        raw = last_number(out)
        if raw is None:
            return Measurement(query=query, value=None, at=at, note="the command printed no number")
        value = clean_value(raw)
        return Measurement(
            query=query, value=value, at=at, note="" if value is not None else "it printed NaN"
        )

    async def aclose(self) -> None:
        return None
