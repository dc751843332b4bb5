"""Make-before-break ordering and weight math shared by every router."""

from __future__ import annotations

from collections import Counter

import pytest

from runwright.errors import DriverError, InputError
from runwright.routers.base import (
    Backend,
    shares,
    smooth_schedule,
    split_address,
    transition,
)


def b(name: str, weight: int, port: int | None = None) -> Backend:
    return Backend(name, "127.0.0.1", port or {"v1": 9001, "v2": 9002, "v3": 9003}[name], weight)


def test_switch_raises_the_new_version_before_lowering_the_old() -> None:
    steps = transition([b("v1", 100)], [b("v2", 100)])
    assert steps == [[b("v1", 100), b("v2", 100)], [b("v2", 100)]]


def test_canary_step_raises_then_lowers() -> None:
    steps = transition([b("v1", 90), b("v2", 10)], [b("v1", 75), b("v2", 25)])
    assert steps == [[b("v1", 90), b("v2", 25)], [b("v1", 75), b("v2", 25)]]


def test_rollback_to_a_zero_weight_version_raises_it_first() -> None:
    steps = transition([b("v1", 0), b("v2", 100)], [b("v1", 100), b("v2", 0)])
    assert steps[0] == [b("v1", 100), b("v2", 100)]
    assert steps[-1] == [b("v1", 100), b("v2", 0)]


def test_pure_raise_or_pure_lower_is_one_step() -> None:
    assert transition([b("v1", 100)], [b("v1", 100), b("v2", 10)]) == [[b("v1", 100), b("v2", 10)]]
    assert transition([b("v1", 50), b("v2", 50)], [b("v1", 50)]) == [[b("v1", 50)]]
    assert transition([], [b("v1", 100)]) == [[b("v1", 100)]]


def test_a_version_moved_to_another_port_is_added_before_the_old_address_goes() -> None:
    steps = transition([b("v1", 100)], [b("v1", 100, port=9100)])
    assert steps == [[b("v1", 100, port=9100)]]


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ([b("v1", 100)], [b("v2", 100)]),
        ([b("v1", 90), b("v2", 10)], [b("v1", 0), b("v2", 100)]),
        ([b("v1", 100), b("v2", 0)], [b("v3", 100)]),
        ([b("v1", 1)], [b("v1", 0), b("v2", 5)]),
    ],
)
def test_no_table_on_the_way_leaves_traffic_without_a_backend(
    current: list[Backend], target: list[Backend]
) -> None:
    for table in transition(current, target):
        assert any(x.weight > 0 for x in table)


def test_a_table_with_no_weight_is_refused() -> None:
    with pytest.raises(DriverError, match="no backend takes traffic"):
        transition([b("v1", 100)], [b("v1", 0)])


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match="appears twice"):
        transition([], [b("v1", 50), b("v1", 50)])


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "", "port": 1, "weight": 1},
        {"name": "v1", "port": 0, "weight": 1},
        {"name": "v1", "port": 1, "weight": -1},
        {"name": "v1", "port": 1, "weight": 257},
        {"name": 'v"1', "port": 1, "weight": 1},
    ],
)
def test_bad_backends_are_input_errors(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        Backend(host="127.0.0.1", **bad)  # type: ignore[arg-type]


def test_backend_round_trips_through_a_record() -> None:
    assert Backend.from_dict(b("v2", 7).to_dict()) == b("v2", 7)
    with pytest.raises(InputError, match="bad backend record"):
        Backend.from_dict({"name": "v1"})


def test_smooth_schedule_is_exact_and_spread() -> None:
    cycle = smooth_schedule([90, 10])
    assert len(cycle) == 10
    assert Counter(cycle) == {0: 9, 1: 1}
    quarter = smooth_schedule([75, 25])
    assert quarter.count(1) == 1
    assert len(quarter) == 4
    halves = smooth_schedule([50, 0, 50])
    assert halves in ([0, 2], [2, 0])
    assert smooth_schedule([0, 0]) == []


def test_smooth_schedule_never_bunches_the_minority() -> None:
    cycle = smooth_schedule([70, 30])
    doubled = cycle + cycle
    assert all(doubled[i : i + 2] != [1, 1] for i in range(len(cycle)))


def test_shares_and_addresses() -> None:
    assert shares([b("v1", 3), b("v2", 1)]) == {"v1": 0.75, "v2": 0.25}
    assert split_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert split_address("[::1]:80") == ("::1", 80)
    with pytest.raises(InputError, match="HOST:PORT"):
        split_address("8080")
