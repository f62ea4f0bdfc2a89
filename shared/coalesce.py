"""Coalescing: one round trip for everything that arrived while the last one was away.

Under load, many requests want the same kind of round trip at once (a write that must commit
before they answer, a check in Redis). Each `Coalescer` key has at most one call in flight;
what is submitted meanwhile waits and goes as the next call, together. So every item goes in
a call that starts after it was submitted (a check is never answered by an older one), an
idle key's first item goes at once (on the next turn of the event loop), and a busy one pays
one round trip per batch instead of one per item: group commit, as databases do it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

# A call answers each item with its result, or with the exception that item alone raises.
Call = Callable[[K, Sequence[T]], Awaitable[Sequence[R | Exception]]]


class Coalescer(Generic[K, T, R]):
    """`call(key, items)` answers each item in order (a result, or an exception for that item
    alone); if it raises, every item of the batch raises that. At most `max_batch` items go in
    one call. A caller cancelled while waiting leaves its item in the batch: the call is
    shared, so it runs to the end for the others."""

    def __init__(self, call: Call[K, T, R], max_batch: int = 100) -> None:
        self._call = call
        self._max_batch = max_batch
        self._waiting: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is None:  # no call in flight for this key: start the key's drain
            waiting = self._waiting[key] = []
            task = asyncio.create_task(self._drain(key, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        waiting.append((item, future))
        return await future

    async def _drain(self, key: K, waiting: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            while waiting:
                batch = waiting[: self._max_batch]
                del waiting[: self._max_batch]
                await self._answer(key, batch)
        finally:
            del self._waiting[key]
            for _, future in waiting:  # only if this task itself was cancelled
                future.cancel()

    async def _answer(self, key: K, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._call(key, [item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} answers to {len(batch)} items")
        except Exception as error:  # every item of the batch shares the call's failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue  # its caller was cancelled; the others still get theirs
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
