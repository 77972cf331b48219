"""What every service process has: its store, the outbox relay, its consumers, NATS, and GET /health.

A service's bootstrap.py composes these parts; `ServiceRuntime.lifespan` connects them when the
process starts and closes them when it stops. Nothing connects at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
import nats
import psycopg
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.consumer import IdempotentConsumer, Projection
from shared.errors import map_domain_errors
from shared.eventstore import ServiceApplication, postgres_env
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.streams import ensure_streams

log = logging.getLogger(__name__)

POSITION = re.compile(r"^(?P<service>[a-z]+):(?P<position>\d+)$")
"""A write position as services return it: `<service>:<position in that service's store>`."""

After = Annotated[list[str] | None, Query(
    description="Positions returned by writes (e.g. referral:12): the read waits until they are projected")]
"""The `?after=` parameter of a read that waits for the caller's own writes."""


@dataclass
class ServiceRuntime:
    """The running parts of one service, built in its lifespan and handed to its routes."""

    name: str
    settings: Settings
    store_class: type[ServiceApplication] | None = None
    projections: dict[str, Projection] = field(default_factory=dict)
    """source service -> projection fed by that service's stream."""
    prepare_read_model: Callable[[asyncpg.Connection], Any] | None = None
    starting: list[Callable[[ServiceRuntime, JetStreamContext], Awaitable[None]]] = field(default_factory=list)
    """Run once the store, NATS and the broker exist, before the broker starts: e.g. to add subscribers."""
    store_env: dict[str, str] = field(default_factory=dict)
    """Extra settings for the service's store (e.g. the referral vault's key)."""

    store: ServiceApplication | None = None
    pool: asyncpg.Pool | None = None
    nats: NATS | None = None
    broker: NatsBroker | None = None
    relay: OutboxRelay | None = None
    consumers: dict[str, IdempotentConsumer] = field(default_factory=dict)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self.settings
        await asyncio.to_thread(create_schema, settings.database_url, self.schema)
        self.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=5)
        self.nats = await nats.connect(servers=settings.nats_servers, name=f"casetrack-{self.name}",
                                       max_reconnect_attempts=-1)
        js = self.nats.jetstream()
        await ensure_streams(js, settings.stream_replicas)
        if self.prepare_read_model:
            async with self.pool.acquire() as conn:
                await self.prepare_read_model(conn)
        if self.store_class:
            env = postgres_env(settings.database_url, self.schema, settings.lock_timeout_seconds) | self.store_env
            self.store = await asyncio.to_thread(self.store_class, env)
            self.relay = OutboxRelay(self.name, self.store, self.nats, self.pool, self.schema)
            await self.relay.prepare()
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        self.broker = NatsBroker(settings.nats_servers, name=f"casetrack-{self.name}-consumers",
                                 max_reconnect_attempts=-1)
        for source, projection in self.projections.items():
            consumer = IdempotentConsumer(self.name, source, projection, self.pool, self.schema,
                                          max_deliver=settings.max_deliver)
            await consumer.prepare(js)
            consumer.subscribe(self.broker)
            self.consumers[source] = consumer
        for start in self.starting:
            await start(self, js)
        await self.broker.start()
        try:
            yield
        finally:
            await self.broker.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.store:
                await asyncio.to_thread(self.store.close)
            await self.nats.drain()
            await self.pool.close()

    def in_background(self, work: Awaitable[None], name: str) -> None:
        """Run `work` for as long as the service runs; it is cancelled when the service stops."""
        self._tasks.append(asyncio.create_task(work, name=f"{self.name}-{name}"))

    def saved(self, position: int) -> str:
        """Wake the relay for a new write, and give the caller the position token to read after."""
        if self.relay:
            self.relay.nudge()
        return f"{self.name}:{position}"

    async def wait_for_positions(self, positions: list[str], read_model: str) -> None:
        """Wait until this service's projections have applied each write position (`referral:12`, ...):
        a 422 for a position this service does not follow, a 503 (retry) if not reached in time."""
        for token in positions:
            match = POSITION.match(token)
            if not match or match["service"] not in self.consumers:
                raise HTTPException(422, [{
                    "loc": ["query", "after"], "msg": f"{token!r} is not a position this service follows",
                    "type": "unknown_position", "follows": sorted(self.consumers)}])
            consumer = self.consumers[match["service"]]
            if not await consumer.wait_for(int(match["position"]), self.settings.read_wait_seconds):
                raise HTTPException(
                    503, f"the {read_model} has not reached {token} within "
                         f"{self.settings.read_wait_seconds:.0f}s; try again",
                    headers={"Retry-After": "1"})

    async def health(self) -> JSONResponse:
        checks: dict[str, Any] = {}
        healthy = True
        try:
            async with self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - health reports the failure instead of raising it
            checks["database"] = f"unavailable: {type(error).__name__}"
            healthy = False
        checks["nats"] = "ok" if self.nats and self.nats.is_connected else "disconnected"
        healthy &= checks["nats"] == "ok"
        if self.store:
            try:
                checks["store_position"] = await asyncio.to_thread(self.store.position)
                checks["relay_lag"] = await self.relay.lag()
            except Exception as error:  # noqa: BLE001
                checks["store_position"] = f"unavailable: {type(error).__name__}"
                healthy = False
        consumer_lag = {}
        for source, consumer in self.consumers.items():
            try:
                consumer_lag[source] = await consumer.lag()
            except Exception as error:  # noqa: BLE001
                consumer_lag[source] = f"unknown: {type(error).__name__}"
                healthy = False
        checks["consumer_lag"] = consumer_lag
        return JSONResponse({"service": self.name, "status": "ok" if healthy else "degraded", **checks},
                            status_code=200 if healthy else 503)


def create_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def service_app(runtime: ServiceRuntime, title: str, description: str) -> FastAPI:
    """The FastAPI app of a service, with /health, traced requests and 422s that list every reason."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI(title=title, description=description, lifespan=runtime.lifespan)
    map_domain_errors(app)

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """The service's store, NATS connection, relay lag and consumer lag."""
        return await runtime.health()

    FastAPIInstrumentor.instrument_app(app)
    return app
