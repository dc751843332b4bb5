"""The local driver with real processes: versions side by side, failures, stops, crash recovery.

Every process a test starts carries a unique environment variable; after each test no process
with it may be left (``/proc/*/environ``), whatever the test did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from runwright.drivers.base import Driver, Instance, ServiceSpec
from runwright.drivers.local import LocalDriver, LocalSettings
from runwright.drivers.pidfiles import PidFiles, process_info
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError

SRC = str(Path(__file__).resolve().parents[2] / "src")
DEMO = "{{ python }} -m runwright.demo --port {{ port }} --version {{ version }}"
STUBBORN = """
import signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def marked_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        info = process_info(int(entry))
        if marker.encode() in environ and info is not None and info.live:
            found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    info = process_info(pid)
    return info is None or not info.live


@pytest.fixture
def marker() -> str:
    return f"rwtest-{uuid.uuid4().hex}"


@pytest.fixture
def spec(marker: str) -> ServiceSpec:
    return ServiceSpec(
        name="web",
        command=DEMO,
        env={"PYTHONPATH": SRC, "RUNWRIGHT_TEST_MARKER": marker},
        variables={"python": sys.executable},
        start_timeout=15.0,
        stop_timeout=3.0,
    )


@pytest.fixture
async def driver(tmp_path: Path, marker: str) -> AsyncIterator[LocalDriver]:
    local = LocalDriver(LocalSettings(state_dir=tmp_path / "state"))
    yield local
    leftovers: list[Instance] = []
    services = tmp_path / "state" / "services"
    for directory in services.iterdir() if services.is_dir() else []:
        for inst in await local.instances(directory.name):
            leftovers.append(inst)
            await local.stop(inst, 0.5)
    stray = marked_processes(marker)
    for pid in stray:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, "instances left running"
    assert not stray, "processes left behind"


def log_of(inst: Instance) -> str:
    return Path(inst.log).read_text()


async def service_pid(inst: Instance) -> int:
    async with httpx.AsyncClient() as http:
        return int((await http.get(inst.url + "/version")).json()["pid"])


async def test_two_versions_run_side_by_side_and_stop_without_a_trace(
    driver: LocalDriver, spec: ServiceSpec, marker: str
) -> None:
    assert isinstance(driver, Driver)
    blue, green = await asyncio.gather(driver.start(spec, "v1"), driver.start(spec, "v2"))
    assert blue.port != green.port
    async with httpx.AsyncClient() as http:
        for inst in (blue, green):
            answer = await http.get(inst.url + "/")
            assert answer.text == f"hello from {inst.version}\n"
            assert answer.headers["x-version"] == inst.version
    assert await driver.healthy(blue)
    assert await driver.healthy(green)
    running = await driver.instances("web")
    assert sorted(i.version for i in running) == ["v1", "v2"]
    assert set(running) == {blue, green}
    pids = [blue.pid, green.pid, await service_pid(blue), await service_pid(green)]
    assert set(pids) <= set(marked_processes(marker))
    assert "listening on" in log_of(blue)

    await driver.stop(blue, 3.0)
    assert await driver.instances("web") == [green]
    assert not await driver.healthy(blue)
    await driver.stop(green, 3.0)
    await driver.stop(green, 3.0)
    assert await driver.instances("web") == []
    assert all(gone(pid) for pid in pids)
    assert not marked_processes(marker)
    assert not list(PidFiles(driver.settings.state_dir).directory("web").glob("*.json"))


async def test_a_command_that_exits_is_refused_with_its_last_output(
    driver: LocalDriver, spec: ServiceSpec
) -> None:
    broken = replace(spec, command="echo 'config error: DATABASE_URL is not set' >&2; exit 3")
    with pytest.raises(DriverError, match="web v1 exited") as failed:
        await driver.start(broken, "v1")
    assert "config error: DATABASE_URL is not set" in str(failed.value)
    assert not failed.value.retryable
    assert await driver.instances("web") == []


async def test_a_version_that_never_answers_is_stopped_after_the_start_timeout(
    tmp_path: Path, spec: ServiceSpec, marker: str
) -> None:
    clock = FakeClock()
    local = LocalDriver(LocalSettings(state_dir=tmp_path / "fake-time"), clock)
    silent = replace(spec, command="echo starting up; sleep 30", start_timeout=120.0)
    with pytest.raises(DriverError, match="not healthy within 120s") as failed:
        await local.start(silent, "v1")
    assert "nothing answered" in str(failed.value)
    assert "starting up" in str(failed.value)
    assert clock.monotonic() >= 120.0
    assert await local.instances("web") == []
    assert not marked_processes(marker)


async def test_a_failing_health_check_is_named_in_the_error(
    driver: LocalDriver, spec: ServiceSpec
) -> None:
    sick = replace(spec, command=DEMO + " --fail-health", start_timeout=1.5)
    with pytest.raises(DriverError, match="not healthy within 1.5s") as failed:
        await driver.start(sick, "v1")
    assert "HTTP 503" in str(failed.value)
    assert "listening on" in str(failed.value)


async def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    driver: LocalDriver, spec: ServiceSpec, tmp_path: Path, marker: str
) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    stubborn = replace(spec, name="stubborn", command="{{ python }} " + f"{script} " + "{{ port }}")
    inst = await driver.start(stubborn, "v1")
    assert await driver.healthy(inst)
    began = time.monotonic()
    await driver.stop(inst, 0.5)
    assert 0.5 <= time.monotonic() - began < 3.0
    assert gone(inst.pid)
    assert not marked_processes(marker)
    assert await driver.instances("stubborn") == []


async def test_a_new_driver_finds_running_versions_from_their_pid_files(
    driver: LocalDriver, spec: ServiceSpec
) -> None:
    inst = await driver.start(spec, "v1")
    after_crash = LocalDriver(replace(driver.settings))
    assert await after_crash.instances("web") == [inst]
    assert await after_crash.healthy(inst)
    await after_crash.stop(inst, 3.0)
    assert await driver.instances("web") == []
    assert gone(inst.pid)


async def test_versions_keep_serving_when_runwright_is_killed(
    driver: LocalDriver, spec: ServiceSpec, marker: str
) -> None:
    program = f"""
import asyncio, json, os, signal, sys
from pathlib import Path
from runwright.drivers.base import ServiceSpec
from runwright.drivers.local import LocalDriver, LocalSettings
spec = ServiceSpec(name="web", command={DEMO!r}, env={dict(spec.env)!r},
                   variables={{"python": sys.executable}})
inst = asyncio.run(LocalDriver(LocalSettings(Path({str(driver.settings.state_dir)!r})))
                   .start(spec, "v1"))
print(inst.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        program,
        env={"PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    port = int(out.decode().strip())
    [found] = await driver.instances("web")
    assert found.port == port
    async with httpx.AsyncClient() as http:
        assert (await http.get(found.url + "/")).text == "hello from v1\n"
    await driver.stop(found, 3.0)
    assert not marked_processes(marker)


async def test_stale_and_recycled_pid_files_are_dropped(
    driver: LocalDriver, spec: ServiceSpec
) -> None:
    inst = await driver.start(spec, "v1")
    os.killpg(inst.pgid, signal.SIGKILL)
    for _ in range(200):
        if gone(inst.pid):
            break
        await asyncio.sleep(0.01)
    me = process_info(os.getpid())
    assert me is not None
    recycled = replace(
        inst, version="v0", port=1, pid=os.getpid(), pgid=0, start_ticks=me.start_ticks + 1
    )
    files = PidFiles(driver.settings.state_dir)
    files.write(recycled)
    assert await driver.instances("web") == []
    assert files.read("web") == []
    await driver.stop(recycled, 0.1)
    assert not gone(os.getpid())


async def test_environment_and_working_directory_reach_the_command(
    driver: LocalDriver, spec: ServiceSpec, tmp_path: Path
) -> None:
    workdir = tmp_path / "app"
    workdir.mkdir()
    greeting = replace(
        spec,
        command='echo "greeting=$GREETING in $(pwd)"; ' + DEMO,
        env={**spec.env, "GREETING": "hello; world"},
        cwd=str(workdir),
    )
    inst = await driver.start(greeting, "v1")
    assert f"greeting=hello; world in {workdir}" in log_of(inst)
    await driver.stop(inst, 3.0)
    missing = replace(spec, cwd=str(tmp_path / "nowhere"))
    with pytest.raises(DriverError, match="does not exist"):
        await driver.start(missing, "v2")
