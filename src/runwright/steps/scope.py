"""What a step of one service of a product sees: that service's version, URLs and captures.

A product's run has one set of variables; ``services`` in it maps each service's name to its
``version``, ``previous_version`` and ``url`` (where users reach it: its router). A step that
belongs to a service (its spec says ``service``) is rendered with that service's values as
``version``, ``previous_version``, ``service_url`` and ``service``, and with the ``new_url``
and ``new_port`` its own service's start captured, so a smoke test of the frontend never
reads the backend's new instance. Captures are kept apart under ``captured_key(name)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "service:"


def captured_key(name: str) -> str:
    """The captured value under which a service's start leaves its ``new_url``/``new_port``."""
    return f"{PREFIX}{name}"


def scoped_variables(variables: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``variables`` as a step of service ``name`` sees them."""
    product = variables.get("services")
    me = product.get(name) if isinstance(product, Mapping) else None
    if not isinstance(me, Mapping):
        return dict(variables)
    captured = variables.get("captured")
    mine = variables.get(captured_key(name))
    own = dict(mine) if isinstance(mine, Mapping) else {}
    return {
        **variables,
        "version": me.get("version", ""),
        "previous_version": me.get("previous_version", ""),
        "service_url": me.get("url", ""),
        "service": name,
        **own,
        "captured": {**(captured if isinstance(captured, Mapping) else {}), **own},
    }
