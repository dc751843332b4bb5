"""Runs started from the web execute in the server process, each as an asyncio task.

A use case such as deploy journals the run's creation and then drives it to its end or to a
wait for a person; the request that started it returns as soon as the run exists (its id is
known), while the task goes on. Errors before creation (a window, a lock, a bad version) are
the request's errors. A use case that drives a run goes to a daemon thread (a coroutine one
on that thread's own event loop), so stopping the server never waits for it; quick ones
(approve, attest, settle) are awaited on the server's loop (``call``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from runwright.app.runtime.runtime import Runtime
from runwright.model.event_type import EventType

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Created:
    """Observer that tells the waiting request which run was created."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[int]) -> None:
        self.loop = loop
        self.fut = fut

    def event(self, run_id: int, type: str, step: str | None, data: Mapping[str, Any]) -> None:
        if type == EventType.RUN_CREATED:
            self.loop.call_soon_threadsafe(_settle, self.fut, run_id)

    def output(self, run_id: int, step: str, line: str) -> None:
        return None


def _settle(fut: asyncio.Future[int], run_id: int) -> None:
    if not fut.done():
        fut.set_result(run_id)


async def _in_daemon_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on a daemon thread: stopping the server never waits for a run to end (the
    run is journaled; like after a crash, ``resume`` continues it)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def deliver(value: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def post(value: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop has stopped
            loop.call_soon_threadsafe(deliver, value, error)

    def work() -> None:
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # delivered to the awaiting task
            post(None, exc)
        else:
            post(value, None)

    threading.Thread(target=work, name=f"run:{fn.__name__}", daemon=True).start()
    return await fut


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A quick use case (approve, attest, settle): awaited on this loop if it is a coroutine
    function, else on a worker thread so the loop stays free."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


def _on_own_loop(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A coroutine use case driving a run, on an event loop of its own thread: the run's
    processes and timers never share the server's loop, and a stopped server leaves it."""
    return asyncio.run(fn(*args, **kwargs))


class Tasks:
    """The runs this server is driving."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def _spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        if inspect.iscoroutinefunction(fn):
            work = _in_daemon_thread(_on_own_loop, fn, *args, **kwargs)
        else:
            work = _in_daemon_thread(fn, *args, **kwargs)
        task = asyncio.create_task(work)
        self.running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a web-started run ended with an error: %s", task.exception())

    async def start_new(self, rt: Runtime, fn: Callable[..., Any], *args: Any, **kw: Any) -> int:
        """Run a use case that creates a run; return the new run's id once it exists."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        local = replace(rt, observer=_Created(asyncio.get_running_loop(), fut))
        task = self._spawn(fn, local, *args, **kw)
        await asyncio.wait({fut, task}, return_when=asyncio.FIRST_COMPLETED)
        if fut.done():
            return fut.result()
        fut.cancel()
        task.result()
        raise RuntimeError("the use case ended without creating a run")

    async def start(
        self, fn: Callable[..., Any], *args: Any, settle: float = 0.5, **kw: Any
    ) -> Any:
        """Run a use case on an existing run; wait briefly so quick ones answer directly."""
        task = self._spawn(fn, *args, **kw)
        done, _ = await asyncio.wait({task}, timeout=settle)
        return task.result() if done else None

    async def stop(self) -> None:
        for task in list(self.running):
            task.cancel()
