"""Pid files and process identity: a recycled pid is never taken for a service's process."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from runwright.drivers.base import Instance
from runwright.drivers.pidfiles import (
    PidFiles,
    is_running,
    is_same_process,
    process_info,
    safe_name,
)


def instance(**changes: object) -> Instance:
    values: dict[str, object] = {
        "service": "web",
        "version": "v1",
        "host": "127.0.0.1",
        "port": 8001,
        "pid": 4242,
        "started_at": datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        "pgid": 4242,
        "start_ticks": 99,
        "command": "serve 8001",
    }
    values.update(changes)
    return Instance(**values)  # type: ignore[arg-type]


def test_own_process_is_recognised_by_pid_and_start_time() -> None:
    me = process_info(os.getpid())
    assert me is not None
    assert me.live
    assert is_same_process(os.getpid(), me.start_ticks)
    assert not is_same_process(os.getpid(), me.start_ticks + 1)


def test_a_recycled_pid_is_not_running() -> None:
    me = process_info(os.getpid())
    assert me is not None
    recycled = instance(pid=os.getpid(), start_ticks=me.start_ticks - 1, pgid=0)
    assert not is_running(recycled)


def test_records_round_trip_and_are_removed(tmp_path: Path) -> None:
    files = PidFiles(tmp_path)
    one = instance()
    path = files.write(one)
    assert path == tmp_path / "services" / "web" / "v1-8001.json"
    assert files.read("web") == [(path, one)]
    files.remove(one)
    files.remove(one)
    assert files.read("web") == []


def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    files = PidFiles(tmp_path)
    files.write(instance())
    (files.directory("web") / "broken.json").write_text("{")
    assert [i.version for _, i in files.read("web")] == ["v1"]


def test_names_cannot_escape_the_state_directory(tmp_path: Path) -> None:
    files = PidFiles(tmp_path)
    path = files.write(instance(service="../../etc", version="../passwd"))
    assert path.is_relative_to(tmp_path / "services")
    assert safe_name("..") == "_"
    assert safe_name("v1.2.3+build/7") == "v1.2.3_build_7"
