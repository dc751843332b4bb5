"""Shared field types of the runbook schema: strict models and human-written durations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from runwright.model.durations import parse_duration


def _duration(value: object) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
OptionalDuration = Annotated[
    float | None, BeforeValidator(lambda v: None if v is None else _duration(v))
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
