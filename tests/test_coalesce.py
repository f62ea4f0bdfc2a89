"""The coalescer on its own: what arrives while a call is away goes together in the next one,
each item gets its own outcome, and one caller giving up costs the others nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.coalesce import Coalescer


class Recorder:
    """A call that writes down each batch and waits for the test to let it finish."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, key: str, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append((key, list(items)))
        await self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def started(calls: Recorder, count: int) -> None:
    while len(calls.batches) < count:
        await asyncio.sleep(0)


async def test_what_arrives_while_a_call_is_away_goes_together_in_the_next() -> None:
    calls = Recorder()
    calls.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(calls)
    first = asyncio.create_task(coalescer.submit("a", 0))
    await started(calls, 1)
    later = [asyncio.create_task(coalescer.submit("a", i)) for i in (2, 4, 6)]
    await asyncio.sleep(0.01)
    assert calls.batches == [("a", [0])]  # nothing joins a call already sent
    calls.release.set()
    assert await first == 0
    assert [await t for t in later] == [20, 40, 60]
    assert calls.batches == [("a", [0]), ("a", [2, 4, 6])]


async def test_keys_are_batched_apart_and_at_most_max_batch_go_at_once() -> None:
    calls = Recorder()
    calls.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(calls, max_batch=2)
    tasks = [asyncio.create_task(coalescer.submit(k, i)) for k, i in [("a", 0), ("b", 2)]]
    await started(calls, 2)
    tasks += [asyncio.create_task(coalescer.submit("a", i)) for i in (4, 6, 8)]
    await asyncio.sleep(0.01)
    calls.release.set()
    assert [await t for t in tasks] == [0, 20, 40, 60, 80]
    assert calls.batches == [("a", [0]), ("b", [2]), ("a", [4, 6]), ("a", [8])]


async def test_each_item_gets_its_own_outcome() -> None:
    coalescer: Coalescer[str, int, int] = Coalescer(Recorder())
    outcomes = await asyncio.gather(
        *(coalescer.submit("a", i) for i in range(4)), return_exceptions=True
    )
    assert outcomes[0] == 0 and outcomes[2] == 20
    assert [str(e) for e in outcomes[1::2]] == ["odd 1", "odd 3"]


class FailsOnce:
    def __init__(self) -> None:
        self.failed = False

    async def __call__(self, key: str, items: Sequence[int]) -> list[int | Exception]:
        if not self.failed:
            self.failed = True
            await asyncio.sleep(0.01)
            raise ConnectionError("away")
        return list(items)


async def test_a_failed_call_fails_its_batch_only() -> None:
    coalescer: Coalescer[str, int, int] = Coalescer(FailsOnce())
    first = asyncio.create_task(coalescer.submit("a", 1))
    await asyncio.sleep(0)
    second = asyncio.create_task(coalescer.submit("a", 2))
    with pytest.raises(ConnectionError):
        await first
    assert await second == 2


async def test_a_call_answering_the_wrong_number_of_items_fails_them_all() -> None:
    async def short(key: str, items: Sequence[int]) -> list[int | Exception]:
        return list(items)[1:]

    coalescer: Coalescer[str, int, int] = Coalescer(short)
    outcomes = await asyncio.gather(
        *(coalescer.submit("a", i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_a_caller_that_gives_up_leaves_the_others_their_answers() -> None:
    calls = Recorder()
    calls.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(calls)
    tasks = [asyncio.create_task(coalescer.submit("a", i)) for i in (0, 2, 4)]
    await started(calls, 1)
    tasks[1].cancel()
    calls.release.set()
    assert await tasks[0] == 0 and await tasks[2] == 40
    assert tasks[1].cancelled()
    assert calls.batches == [("a", [0, 2, 4])]  # the cancelled one's item was still written
