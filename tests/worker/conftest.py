"""Worker test fixtures: the sample school, an arq connection, and draining the real worker."""

import pytest

from services.worker.main import build_worker, close_worker
from shared import queue
from tests.support.world import seed_school


@pytest.fixture
async def school(pg):
    async with pg.acquire() as conn:
        return await seed_school(conn, "Worker Primary")


@pytest.fixture
async def redis(redis_url):
    pool = await queue.connect(redis_url)
    yield pool
    await pool.aclose()


@pytest.fixture
def drain(settings, pg):
    """Run the production worker in burst mode until its queue is empty; returns jobs done."""

    async def run() -> int:
        worker = build_worker(
            settings, burst=True, poll_delay=0, handle_signals=False, ctx={"pg": pg}
        )
        try:
            return await worker.run_check()
        finally:
            await close_worker(worker)

    return run
