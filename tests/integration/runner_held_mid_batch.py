"""A projection runner in a process of its own that stops half-way through a batch (its transaction open)
and says so on stdout, so that a test can kill -9 it there: `python -m tests.integration.runner_held_mid_batch
DATABASE_URL NATS_URL SCHEMA CASE_ID`."""

from __future__ import annotations

import asyncio
import sys
from uuid import UUID

import asyncpg
import nats

from shared.projections import ProjectionRunner, StreamSource, prepare_projection
from tests.integration.projection_fixtures import CountedReferrals


async def main(database_url: str, nats_url: str, schema: str, hold_at: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    client = await nats.connect(nats_url)
    projection = CountedReferrals(hold_at=UUID(hold_at))
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, projection)
    runner = ProjectionRunner(projection, "referral", StreamSource(client.jetstream(), "referral", "held"), pool,
                              schema, batch_size=50)
    await runner.start()
    running = asyncio.create_task(runner.run())
    await projection.held.wait()
    print("held", runner.position, flush=True)
    await running


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
