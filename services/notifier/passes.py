"""When a delivery pass is finished, with passes overlapping.

The pump claims the next batch as soon as the lanes have room, without waiting for the previous
pass's sends and commits: waiting left connections idle at the tail of every pass and held new
alerts back for a whole pass. A caller of `deliver_due` still needs "everything due when I rang
has its outcome recorded", so each claimed alert gets a ticket (increasing), and pass n is done
once it has stopped claiming and no ticket it (or an earlier pass) handed out is still open.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence


class Passes:
    def __init__(self) -> None:
        self.started = 0
        self.done = 0
        self._next_ticket = 0
        self._open: set[int] = set()
        self._ends: deque[tuple[int, int]] = deque()  # (pass, first ticket after it)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def start(self) -> int:
        self.started += 1
        return self.started

    def ticket(self) -> int:
        """A claimed alert; `close` it once its outcome is recorded."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._open.add(ticket)
        return ticket

    def close(self, tickets: Sequence[int]) -> None:
        self._open.difference_update(tickets)
        self._advance()

    def end(self, number: int) -> None:
        """Pass `number` claims nothing more."""
        self._ends.append((number, self._next_ticket))
        self._advance()

    async def wait_done(self, number: int) -> None:
        if self.done >= number:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((number, waiter))
        await waiter

    def _advance(self) -> None:
        if not self._ends:
            return
        oldest_open = min(self._open, default=self._next_ticket)
        while self._ends and self._ends[0][1] <= oldest_open:
            self.done = self._ends.popleft()[0]
        still = []
        for number, waiter in self._waiters:
            if waiter.done():
                continue
            if number <= self.done:
                waiter.set_result(None)
            else:
                still.append((number, waiter))
        self._waiters = still
