"""A ``--var`` keeps its outside mark on the way into the service command.

The service's variables are copied into the driver's spec; a copy made with ``str()`` once
dropped the mark, so ``{{ flags | raw }}`` in a service command spliced a command-line value
unquoted. Through ``build_services`` and the local driver's rendering, it is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.app.runtime.services import build_services
from runwright.app.runtime.settings import Settings
from runwright.drivers.local import render_command
from runwright.errors import InputError
from runwright.model.loader import load_text
from runwright.model.templating import outside
from runwright.steps.registry import step_kinds

BOOK = """
name: svc
service:
  command: "app --port {{ port }} {{ flags | raw }}"
  health: /health
phases: []
"""


def test_a_command_line_var_cannot_be_spliced_raw_into_the_service_command(
    tmp_path: Path,
) -> None:
    book = load_text(BOOK, "svc.yaml", step_kinds())
    settings = Settings(state_dir=tmp_path, database_url="sqlite://", user="u")
    given = {"flags": outside("--x; touch pwned", "--var flags"), "port": 1}
    release = build_services(settings, book, "default", given)
    with pytest.raises(InputError, match="--var flags unquoted"):
        render_command(release.service, host="127.0.0.1", port=1, version="v1")
    own = build_services(settings, book, "default", {"flags": "--verbose"})
    assert render_command(own.service, host="h", port=2, version="v1") == "app --port 2 --verbose"
