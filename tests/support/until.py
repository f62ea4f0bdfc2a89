"""Waiting for something another task or process does: poll with a deadline, never a bare
sleep."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.02


async def until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    message: str | Callable[[], str] = "condition not met before the deadline",
    interval: float = INTERVAL,
) -> T:
    """Return predicate()'s first truthy value (awaited if it is awaitable); raise
    AssertionError with `message` (a callable is called then, e.g. for a process log tail)
    once `timeout` seconds pass without one. `interval` is the pause between tries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(message() if callable(message) else message)
        await asyncio.sleep(interval)
