"""Shared field types of the runbook schema: strict models and human-written durations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from runwright.model.durations import parse_duration


def _duration(value: object) -> float:
    return parse_duration(value)


_WRITTEN = [{"type": "number", "minimum": 0}, {"type": "string", "examples": ["30s", "5m"]}]
"""How a duration is written: seconds, or text such as ``30s`` or ``1h30m`` (editors see both)."""
Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema({"anyOf": _WRITTEN})]
OptionalDuration = Annotated[
    float | None,
    BeforeValidator(lambda v: None if v is None else _duration(v)),
    WithJsonSchema({"anyOf": [*_WRITTEN, {"type": "null"}]}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
