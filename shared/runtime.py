"""How each service process runs its event loop and its garbage collector.

- uvloop (libuv, by asyncpg's authors): every socket write and callback costs less Python than
  asyncio's selector loop, and each request of ours does several.
- The heap made by starting up (modules, routes, compiled schemas, pools) is frozen once the
  service is up: it never becomes garbage, and a full collection that walked it paused the
  ingest process for 30-66 ms at a time under load (bench/pages.py, gc callbacks).
"""

from __future__ import annotations

import asyncio
import gc

import uvloop


def use_uvloop() -> None:
    """Every event loop this process makes from now on is uvloop's."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def freeze_heap(_: object = None) -> None:
    """Moves everything alive now out of the collector's sight (aiohttp on_startup, last)."""
    gc.collect()
    gc.freeze()
