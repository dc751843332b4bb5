"""A person's request to abort the run this process drives, raised from a signal handler.

Ctrl-C at a terminal must not kill a deploy halfway: the first press only warns, the second
asks for an abort, which the scheduler turns into the same journaled abort request
``runwright abort`` makes, so the run rolls back cleanly. A signal handler may interrupt any
line of Python, including a database write, so it only sets fields here; the scheduler reads
them from its own loop, where writing the request to the store is safe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Interrupt:
    requested_by: str | None = None
    driving: int | None = None

    def request(self, who: str) -> None:
        self.requested_by = who
