"""Fixtures for the integration tier: a schema and pool in the session's PostgreSQL, a NATS client with the streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest

from shared.devservers import NatsServer, Postgres
from shared.streams import ensure_streams


@pytest.fixture
async def pool(postgres: Postgres, schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    yield pool
    await pool.close()


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[nats.NATS]:
    client = await nats.connect(nats_server.url)
    await ensure_streams(client.jetstream(), replicas=1)
    yield client
    await client.drain()
