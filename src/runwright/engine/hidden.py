"""Hand a shell its script through a pipe, not its arguments: ``ps`` shows every user of the
host each process's arguments, and a rendered command may hold a secret.

``shell_argv(script)`` gives the arguments after the shell (``-c`` and a fixed reader that
takes the script from an inherited pipe and evaluates it) and the descriptor to
pass to the child; the script itself is written into the pipe first. A script larger than a
pipe's buffer could not be written before the child runs, so it goes in the arguments as
before (scripts are a few lines; this keeps the function free of threads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

LIMIT = 60_000
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})


@contextmanager
def shell_argv(script: str, shell: str = "/bin/sh") -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """(arguments after ``shell``, descriptors to pass); the pipe is closed on exit. A shell
    that does not speak POSIX sh gets the script after ``-c`` as before."""
    data = script.encode()
    if len(data) > LIMIT or os.path.basename(shell) not in POSIX_SHELLS:
        yield ["-c", script], ()
        return
    read, write = os.pipe()
    try:
        os.write(write, data)
    finally:
        os.close(write)
    try:
        reader = f'_rw_script=$(cat /dev/fd/{read}); eval "$_rw_script"'  # dash: fds 0-9 only
        yield ["-c", reader], (read,)
    finally:
        os.close(read)
