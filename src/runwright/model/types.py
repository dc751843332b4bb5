"""Shared field types of the runbook schema: strict models and human-written durations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from runwright.model.durations import UNITS, parse_duration


def _duration(value: object) -> float:
    return parse_duration(value)


_UNIT = "|".join("".join(f"[{c}{c.upper()}]" for c in unit) for unit in sorted(UNITS, key=len))
DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": rf"^\s*(\d+(\.\d+)?\s*({_UNIT})?\s*)+$"},
    ],
    "description": "seconds, or a duration such as 250ms, 30s, 5m, 1h30m, 2d",
}
"""What editors are told a duration is: the loader's ``parse_duration`` reads both forms."""

Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(DURATION_SCHEMA)]
OptionalDuration = Annotated[
    float | None,
    BeforeValidator(lambda v: None if v is None else _duration(v)),
    WithJsonSchema({"anyOf": [*DURATION_SCHEMA["anyOf"], {"type": "null"}]}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ShortForm = str | dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def shorthand(*forms: ShortForm) -> Callable[[dict[str, Any], type], None]:
    """``json_schema_extra`` for a model whose before-validator also reads a short form
    (``run: "make deploy"``): its JSON Schema becomes ``anyOf`` the short forms and the full
    one, so editors accept what the loader accepts. A form is a field name (the short form is
    that field's value), a schema, or a function of the full schema."""

    def extra(schema: dict[str, Any], cls: type) -> None:
        full = dict(schema)
        short = [
            copy.deepcopy(full["properties"][f])
            if isinstance(f, str)
            else (f(full) if callable(f) else f)
            for f in forms
        ]
        schema.clear()
        schema.update({"title": full.get("title", cls.__name__), "anyOf": [*short, full]})

    return extra


def also_accepts(**fields: dict[str, Any]) -> Callable[[dict[str, Any], type], None]:
    """``json_schema_extra`` for a model whose before-validator widens some fields
    (``status: 200`` for ``[200]``): each named property becomes ``anyOf`` the extra form and
    its own."""

    def extra(schema: dict[str, Any], cls: type) -> None:
        for name, form in fields.items():
            own = schema["properties"][name]
            schema["properties"][name] = {"title": own.get("title", name), "anyOf": [form, own]}

    return extra
