"""HAProxy config rendering, slot assignment and ``show stat`` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.errors import DriverError
from runwright.routers.base import Backend
from runwright.routers.haproxy import (
    BACKEND,
    HAProxySettings,
    Slot,
    assign,
    empty_slots,
    parse_stat,
    render_config,
)


def b(name: str, weight: int, port: int) -> Backend:
    return Backend(name, "127.0.0.1", port, weight)


def test_config_declares_slots_a_stats_socket_and_lossless_retries(tmp_path: Path) -> None:
    settings = HAProxySettings(state_dir=tmp_path, listen="127.0.0.1:8080", slots=3)
    slots = assign(empty_slots(3), [b("v1", 100, 9001)])
    text = render_config(settings, slots, tmp_path / "admin.sock")
    assert f"stats socket {tmp_path / 'admin.sock'} mode 600 level admin" in text
    assert "bind 127.0.0.1:8080" in text
    assert "option redispatch 1" in text
    assert "retry-on conn-failure empty-response response-timeout" in text
    assert "server s1 127.0.0.1:9001 weight 100\n" in text
    assert "server s2 127.0.0.1:1 weight 0 disabled" in text
    assert "server s3 127.0.0.1:1 weight 0 disabled" in text
    assert "default-server check" in text


def test_assign_keeps_slots_fills_free_ones_and_drains_the_removed() -> None:
    slots = assign(empty_slots(3), [b("v1", 100, 9001)])
    slots = assign(slots, [b("v1", 90, 9001), b("v2", 10, 9002)])
    assert [(s.server, s.name, s.weight, s.state) for s in slots] == [
        ("s1", "v1", 90, "ready"),
        ("s2", "v2", 10, "ready"),
        ("s3", "", 0, "maint"),
    ]
    slots = assign(slots, [b("v2", 100, 9002)])
    assert slots[0] == Slot("s1", "v1", "127.0.0.1", 9001, 0, "drain")
    assert slots[1].weight == 100


def test_a_version_on_a_new_port_takes_a_new_slot() -> None:
    slots = assign(empty_slots(2), [b("v1", 100, 9001)])
    slots = assign(slots, [b("v1", 100, 9005)])
    assert [(s.name, s.port, s.state) for s in slots] == [
        ("v1", 9001, "drain"),
        ("v1", 9005, "ready"),
    ]


def test_running_out_of_slots_is_a_clear_error() -> None:
    slots = assign(empty_slots(1), [b("v1", 100, 9001)])
    with pytest.raises(DriverError, match="no free HAProxy slot for v2"):
        assign(slots, [b("v2", 100, 9002)])


def test_show_stat_rows_of_our_backend() -> None:
    text = (
        "# pxname,svname,qcur,scur,status,weight,hrsp_2xx\n"
        "fe_app,FRONTEND,,3,OPEN,,10\n"
        f"{BACKEND},s1,0,2,UP,100,7\n"
        f"{BACKEND},BACKEND,0,2,UP,100,7\n"
    )
    rows = parse_stat(text)
    assert list(rows) == ["s1"]
    assert rows["s1"]["scur"] == "2"
    with pytest.raises(DriverError, match="unexpected answer"):
        parse_stat("Unknown command")
