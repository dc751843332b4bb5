"""Rendering the service command: values are shell-quoted, unknown names are errors."""

from __future__ import annotations

import shlex
import socket

import pytest

from runwright.drivers.base import Instance, ServiceSpec
from runwright.drivers.local import free_port, render_command
from runwright.errors import InputError
from runwright.model.templating import outside


def test_port_version_and_host_are_filled_in() -> None:
    spec = ServiceSpec(name="web", command="app --bind {{ host }}:{{ port }} --tag {{ version }}")
    assert render_command(spec, host="127.0.0.1", port=8123, version="v2") == (
        "app --bind 127.0.0.1:8123 --tag v2"
    )


def test_a_hostile_version_stays_one_word() -> None:
    spec = ServiceSpec(name="web", command="app --version {{ version }}")
    command = render_command(spec, host="127.0.0.1", port=1, version="1.2; rm -rf /")
    assert shlex.split(command) == ["app", "--version", "1.2; rm -rf /"]


def test_runbook_variables_are_available() -> None:
    spec = ServiceSpec(
        name="web",
        command="{{ python }} -m app {{ port }}",
        variables={"python": "/usr/bin/python3"},
    )
    assert render_command(spec, host="h", port=9, version="v") == "/usr/bin/python3 -m app 9"


def test_an_unknown_name_is_an_input_error_naming_the_service() -> None:
    spec = ServiceSpec(name="web", command="app --port {{ prot }}")
    with pytest.raises(InputError, match="service web command: undefined") as failed:
        render_command(spec, host="h", port=1, version="v")
    assert "port" in str(failed.value)


def test_free_port_can_be_listened_on() -> None:
    port = free_port("127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_instance_url_brackets_ipv6_hosts() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert Instance("web", "v1", "::1", 80, 1, now).url == "http://[::1]:80"
    assert Instance("web", "v1", "127.0.0.1", 80, 1, now).describe() == (
        "web v1 on 127.0.0.1:80 (pid 1)"
    )


def test_raw_of_the_version_or_of_a_var_given_at_the_command_line_is_refused() -> None:
    for command in ("app --version {{ version | raw }}", "app {{ flags | raw }}"):
        spec = ServiceSpec(
            name="web", command=command, variables={"flags": outside("--x; id", "--var flags")}
        )
        with pytest.raises(InputError, match="unquoted into a shell command"):
            render_command(spec, host="h", port=1, version="v1")
