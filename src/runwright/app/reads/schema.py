"""The runbook JSON Schema, for editors: the frame plus one variant per step kind."""

from __future__ import annotations

from typing import Any

from runwright.model.schema import RunbookFrame, StepCommon
from runwright.steps.registry import param_models


def json_schema() -> dict[str, Any]:
    schema = RunbookFrame.model_json_schema(by_alias=True)
    common = StepCommon.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    defs.update(common.pop("$defs", {}))
    variants = []
    for key, model in sorted(param_models().items()):
        params = model.model_json_schema(by_alias=True)
        defs.update(params.pop("$defs", {}))
        defs[f"{key}_params"] = params
        variants.append(
            {
                "type": "object",
                "title": f"{key} step",
                "required": [key],
                "properties": {**common["properties"], key: {"$ref": f"#/$defs/{key}_params"}},
                "additionalProperties": False,
            }
        )
    defs["Step"] = {"oneOf": variants}
    step_list = {"type": "array", "items": {"$ref": "#/$defs/Step"}}
    defs["Phase"]["properties"]["steps"] = step_list
    defs["Procedure"]["properties"]["steps"] = step_list
    schema["properties"]["rollback"] = step_list
    _shorthand(defs["ServiceSpec"]["properties"], defs)
    _shorthand(defs["ProductService"]["properties"], defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "runwright runbook"
    return schema


def _shorthand(service: dict[str, Any], defs: dict[str, Any]) -> None:
    """``driver: local`` and a router section without ``kind`` are valid, as the loader reads
    them: the tagged sections become ``anyOf``, with the kinds that need no other setting
    also accepted as a bare name (a kind's own enum still tells them apart)."""
    for key in ("driver", "router"):
        section = service[key]
        variants = section.get("oneOf") or section.get("anyOf") or []
        optional = any(v.get("type") == "null" for v in variants)
        if optional:  # a product's service may have no router: the union, or null
            inner = next(v for v in variants if v.get("type") != "null")
            variants = inner.get("oneOf") or inner.get("anyOf") or [inner]
        names: list[str] = []
        for variant in variants:
            spec = defs.get(str(variant.get("$ref", "")).rsplit("/", 1)[-1], variant)
            kind = spec.get("properties", {}).get("kind", {})
            if set(spec.get("required", [])) <= {"kind"}:
                names += kind.get("enum") or ([kind["const"]] if "const" in kind else [])
        service[key] = {
            "title": section.get("title", key),
            "anyOf": [
                {"type": "string", "enum": names},
                *variants,
                *([{"type": "null"}] if optional else []),
            ],
        }
