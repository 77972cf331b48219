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
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.errors import map_domain_errors
from shared.eventstore import ServiceApplication, postgres_env
from shared.outbox import OutboxRelay
from shared.projections import (
    EventSource,
    Projection,
    ProjectionRunner,
    RebuildProgress,
    StoreSource,
    StreamSource,
    prepare_projection,
    rebuild,
)
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
    projections: list[Projection] = field(default_factory=list)
    """The service's read models; each follows its own store and/or other services' streams."""
    starting: list[Callable[[ServiceRuntime, JetStreamContext], Awaitable[None]]] = field(default_factory=list)
    """Run once the store, NATS and the projections exist: e.g. to open an inbox (the referral service's)."""
    store_env: dict[str, str] = field(default_factory=dict)
    """Extra settings for the service's store (e.g. the referral vault's key)."""
    batch_size: int = 1000

    store: ServiceApplication | None = None
    pool: asyncpg.Pool | None = None
    nats: NATS | None = None
    js: JetStreamContext | None = None
    relay: OutboxRelay | None = None
    runners: list[ProjectionRunner] = field(default_factory=list)
    rebuilds: dict[str, RebuildProgress] = field(default_factory=dict)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self.settings
        await asyncio.to_thread(create_schema, settings.database_url, self.schema)
        self.pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
        self.nats = await nats.connect(servers=settings.nats_servers, name=f"casetrack-{self.name}",
                                       max_reconnect_attempts=-1)
        self.js = self.nats.jetstream()
        await ensure_streams(self.js, settings.stream_replicas)
        async with self.pool.acquire() as conn:
            for projection in self.projections:
                await prepare_projection(conn, self.schema, projection)
        if self.store_class:
            env = postgres_env(settings.database_url, self.schema, settings.lock_timeout_seconds) | self.store_env
            self.store = await asyncio.to_thread(self.store_class, env)
            self.relay = OutboxRelay(self.name, self.store, self.nats, self.pool, self.schema)
            await self.relay.prepare()
            self.in_background(self.relay.run(), "relay")
        for projection in self.projections:
            for service in projection.follows:
                runner = ProjectionRunner(projection, service, self.source_of(service, projection.name), self.pool,
                                          self.schema, batch_size=self.batch_size)
                await runner.start()
                self.runners.append(runner)
                self.in_background(runner.run(), f"projection-{projection.name}-{service}")
        for start in self.starting:
            await start(self, self.js)
        try:
            yield
        finally:
            for runner in self.runners:
                runner.stop()
            if projecting := [task for task in self._tasks if "-projection-" in task.get_name()]:
                await asyncio.wait(projecting, timeout=5)  # projections finish the batch in hand
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for runner in self.runners:
                await runner.source.close()
            if self.store:
                await asyncio.to_thread(self.store.close)
            await self.nats.drain()
            await self.pool.close()

    def source_of(self, service: str, reader: str) -> EventSource:
        """Where `reader` reads `service`'s events: this service's own store, or the other service's stream."""
        if service == self.name:
            if self.store is None:
                raise ValueError(f"{reader} follows {service}'s own events, but {service} has no store")
            return StoreSource(service, self.store)
        return StreamSource(self.js, service, reader=f"{self.name}-{reader}-{service}",
                            max_deliver=self.settings.max_deliver)

    def in_background(self, work: Awaitable[None], name: str) -> None:
        """Run `work` for as long as the service runs; it is cancelled when the service stops."""
        self._tasks.append(asyncio.create_task(work, name=f"{self.name}-{name}"))

    def saved(self, position: int) -> str:
        """Wake the relay and the projections of the service's own events for a new write, and give the
        caller the position token to read after."""
        if self.relay:
            self.relay.nudge()
        for runner in self.runners:
            if isinstance(runner.source, StoreSource):
                runner.source.nudge()
        return f"{self.name}:{position}"

    async def wait_for_positions(self, positions: list[str], *projections: str) -> None:
        """Wait until the named projections (all, if none is named) have applied each write position
        (`referral:12`, ...): a 422 for a position they do not follow, a 503 (retry) if not reached in time."""
        for token in positions:
            match = POSITION.match(token)
            runners = [runner for runner in self.runners
                       if match and runner.source_service == match["service"]
                       and (not projections or runner.projection.name in projections)]
            if not runners:
                raise HTTPException(422, [{
                    "loc": ["query", "after"], "msg": f"{token!r} is not a position this read follows",
                    "type": "unknown_position",
                    "follows": sorted({r.source_service for r in self.runners
                                       if not projections or r.projection.name in projections})}])
            for runner in runners:
                if not await runner.wait_for(int(match["position"]), self.settings.read_wait_seconds):
                    raise HTTPException(
                        503, f"the {runner.projection.name} read model has not reached {token} within "
                             f"{self.settings.read_wait_seconds:.0f}s; try again",
                        headers={"Retry-After": "1"})

    async def projection_states(self) -> list[dict[str, Any]]:
        """Each projection: the sources it follows, its position and lag in each, and any rebuild."""
        states: dict[str, dict[str, Any]] = {}
        lags = await asyncio.gather(*(lag_of(runner) for runner in self.runners))
        for runner, lag in zip(self.runners, lags, strict=True):
            state = states.setdefault(runner.projection.name, {
                "projection": runner.projection.name, "service": self.name, "sources": {},
                "rebuild": vars(self.rebuilds[runner.projection.name]).copy()
                if runner.projection.name in self.rebuilds else None})
            state["sources"][runner.source_service] = {"position": runner.position, "lag": lag}
        return list(states.values())

    def start_rebuild(self, name: str) -> RebuildProgress:
        """Rebuild the projection `name` in the background (a running rebuild of it is left to finish)."""
        [projection] = [p for p in self.projections if p.name == name] or [None]
        if projection is None:
            raise HTTPException(404, f"{self.name} has no projection {name!r}")
        if name in self.rebuilds and self.rebuilds[name].state == "running":
            return self.rebuilds[name]
        progress = self.rebuilds[name] = RebuildProgress(name)
        sources = {service: self.source_of(service, f"{name}-rebuild") for service in projection.follows}
        self.in_background(rebuild(projection, sources, self.pool, self.schema, progress, self.batch_size),
                           f"rebuild-{name}")
        return progress

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
        projection_lag: dict[str, dict[str, Any]] = {}
        for state in await self.projection_states():
            projection_lag[state["projection"]] = {source: s["lag"] for source, s in state["sources"].items()}
            healthy &= all(isinstance(s["lag"], int) for s in state["sources"].values())
        checks["projection_lag"] = projection_lag
        return JSONResponse({"service": self.name, "status": "ok" if healthy else "degraded", **checks},
                            status_code=200 if healthy else 503)


async def lag_of(runner: ProjectionRunner, within_seconds: float = 2.0) -> int | str:
    """How many events the runner has still to apply, or why that cannot be told now (NATS or the store away)."""
    try:
        return await asyncio.wait_for(runner.lag(), within_seconds)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"unknown: {type(error).__name__}"


def create_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def service_app(runtime: ServiceRuntime, title: str, description: str) -> FastAPI:
    """The FastAPI app of a service, with /health, traced requests and 422s that list every reason."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI(title=title, description=description, lifespan=runtime.lifespan)
    map_domain_errors(app)
    from shared.idempotency import install_idempotency, kept_by  # every write route takes an Idempotency-Key
    install_idempotency(app, kept_by(runtime))

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """The service's store, NATS connection, relay lag and each projection's lag."""
        return await runtime.health()

    @app.get("/projections", tags=["operations"])
    async def projections() -> list[dict[str, Any]]:
        """Each read model of this service: the sources it follows, its position and lag, any rebuild."""
        return await runtime.projection_states()

    @app.post("/projections/{name}/rebuild", tags=["operations"], status_code=202)
    async def rebuild_projection(name: str) -> dict[str, Any]:
        """Rebuild a read model from the events into fresh tables; the old ones answer until it is complete."""
        return vars(runtime.start_rebuild(name)).copy()

    FastAPIInstrumentor.instrument_app(app)
    return app
