"""A command group that imports a command's module only when that command runs.

Every ``runwright`` call pays for the imports of the modules it loads: the command modules
pull in the engine, SQLAlchemy, the drivers and the analysis code, about a second of CPU.
``--version``, ``--help`` and a mistyped command need none of that, and ``status`` needs
none of ``serve``'s web stack. So the main group knows each command by name, by the module
that defines it and by its one-line summary (what ``--help`` lists), and imports the module
on first use. tests/unit/cli/test_startup.py checks that each summary is the command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from runwright.cli.edge import RunwrightGroup, pass_ctx


@dataclass(frozen=True)
class Lazy:
    """Where a command is defined, and the first sentence of its help. ``attr`` names the
    command in ``module``; without it the module's ``COMMANDS`` or ``commands()`` has it."""

    module: str
    summary: str
    attr: str | None = None


def _commands_of(spec: Lazy) -> dict[str, click.Command]:
    """The commands ``spec.module`` defines: ``spec.attr``, its ``COMMANDS``, or those its
    ``commands(pass_ctx, handle_errors)`` factory builds (errors map in the group)."""
    mod = importlib.import_module(spec.module)
    factory: Callable[..., Any] | None = getattr(mod, "commands", None)
    if spec.attr:
        found = [getattr(mod, spec.attr)]
    else:
        found = factory(pass_ctx, lambda command: command) if factory else mod.COMMANDS
    return {c.name: c for c in found if c.name}


class LazyGroup(RunwrightGroup):
    """A ``RunwrightGroup`` whose ``lazy`` commands load on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, Lazy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.lazy.get(cmd_name)
        if cmd_name not in self.commands and spec is not None:
            for name, command in _commands_of(spec).items():
                if name in self.lazy:
                    self.commands.setdefault(name, command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command with its summary, without importing the lazy ones."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is None:
                loaded = click.Command(name, help=self.lazy[name].summary)
            if not loaded.hidden:
                rows.append((name, loaded.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
