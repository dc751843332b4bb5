"""The small JSON path of assertions and captures: dotted keys, indexes, quoted keys."""

from __future__ import annotations

from typing import Any

import pytest

from runwright.model.jsonpath import MISSING, lookup, parse

DOC: dict[str, Any] = {
    "status": "ok",
    "data": {"items": [{"id": 7, "tags": ["a", "b"]}, {"id": 8}], "user-name": "ann"},
    "with space": {"x": 1},
    "empty": None,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$", DOC),
        ("$.status", "ok"),
        ("$.data.items[0].id", 7),
        ("$.data.items[1].id", 8),
        ("$.data.items[0].tags[1]", "b"),
        ("$.data.user-name", "ann"),
        ("$['with space'].x", 1),
        ('$["status"]', "ok"),
        ("$.empty", None),
        (" $.status ", "ok"),
    ],
)
def test_lookup_finds_values(path: str, value: Any) -> None:
    assert lookup(DOC, path) == value


@pytest.mark.parametrize(
    "path",
    ["$.nope", "$.data.items[2]", "$.status.inner", "$.data[0]", "$.data.items.id", "$.empty.x"],
)
def test_lookup_says_missing(path: str) -> None:
    assert lookup(DOC, path) is MISSING


def test_parse_splits_keys_and_indexes() -> None:
    assert parse("$.a.b[3]['c d']") == ["a", "b", 3, "c d"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("status", "must start with '\\$'"),
        ("$.a..b", "cannot read JSON path"),
        ("$.a[x]", "cannot read JSON path"),
        ("$a", "cannot read JSON path"),
    ],
)
def test_bad_paths_are_explained(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(path)
