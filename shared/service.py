"""What every service process has: its store, the outbox relay, its consumers, NATS, its vital signs
(GET /health, GET /ready and the metrics), and an orderly stop.

A service's bootstrap.py composes these parts; `ServiceRuntime.lifespan` connects them when the
process starts and stops them when it stops: on SIGTERM, uvicorn lets the requests in flight finish
(`shutdown_grace_seconds`), then, within `shutdown_drain_seconds`, the district inbox answers the batch it
applied, the projections finish the batch in hand, and the relay publishes what was saved; what is left
then is taken up at the next start (nothing is lost: it stays unacknowledged or unpublished).
Nothing connects at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import nats
import psycopg
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.auth import PUBLIC, Role, requires, show_roles_in_openapi, verified_subject
from shared.database import ReadPool, read_pool, reconnect_every_second
from shared.errors import map_domain_errors
from shared.eventstore import ServiceApplication, postgres_env
from shared.nats_access import ANSWER_STREAMS, INGEST_STREAM, connect_options
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
from shared.streams import wait_for_streams
from shared.subjects import stream_name
from shared.telemetry import observe_vitals
from shared.vitals import Probe, Vitals

log = logging.getLogger(__name__)

POSITION = re.compile(r"^(?P<service>[a-z]+):(?P<position>\d+)$")
"""A write position as services return it: `<service>:<position in that service's store>`."""

After = Annotated[list[str] | None, Query(
    description="Positions returned by writes (e.g. referral:12): the read waits until they are projected")]
"""The `?after=` parameter of a read that waits for the caller's own writes."""


Administering = requires(Role.admin)
"""The operations routes that change or reveal how a service runs (projections, rebuilds): administrators only."""


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
    pool: ReadPool | None = None
    nats: NATS | None = None
    js: JetStreamContext | None = None
    relay: OutboxRelay | None = None
    runners: list[ProjectionRunner] = field(default_factory=list)
    rebuilds: dict[str, RebuildProgress] = field(default_factory=dict)
    vitals: Vitals | None = None
    watched: dict[str, Probe] = field(default_factory=dict)
    """Checks of the service's own that /health, /ready and the metrics report (e.g. the district inbox's)."""
    finishing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run first when the service stops, within the drain deadline: e.g. the inbox answering what it applied."""
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self.settings
        await asyncio.to_thread(create_schema, settings.database_url, self.schema, settings.database_timeout_seconds)
        self.pool = await read_pool(settings.database_url, settings.database_timeout_seconds)
        self.nats = await nats.connect(servers=settings.nats_servers, name=f"casetrack-{self.name}",
                                       max_reconnect_attempts=-1, **connect_options(settings))
        self.js = self.nats.jetstream()
        await wait_for_streams(self.js, self.streams_needed(), log.warning)
        async with self.pool.acquire() as conn:
            for projection in self.projections:
                await prepare_projection(conn, self.schema, projection)
        if self.store_class:
            reconnect_every_second()
            env = postgres_env(settings.database_url, self.schema, settings.lock_timeout_seconds,
                               settings.database_timeout_seconds) | self.store_env
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
        self.vitals = Vitals(self)
        await self.vitals.start()
        observe_vitals(lambda: self.vitals.snapshot)
        self.in_background(self.vitals.run(), "vitals")
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Finish what is in hand, within `shutdown_drain_seconds`: the inbox answers what it applied, the
        projections apply the batch in hand, the relay publishes what was saved. Then everything is closed
        within CLOSING_SECONDS, so the process exits in time even with NATS or PostgreSQL away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_drain_seconds
        log.info("%s stopping: finishing what is in hand", self.name)

        async def finish_then_publish() -> None:  # what the inbox saves last is published too
            for finish in self.finishing:
                await _within(finish(), deadline - loop.time(), f"{self.name} finishing")
            await self._relay_flush(deadline)

        for runner in self.runners:
            runner.stop()
        await asyncio.gather(finish_then_publish(), self._projections_finish(deadline))
        for task in self._tasks:
            task.cancel()
        closing = loop.time() + CLOSING_SECONDS  # every close shares this, so the process exits in time

        def left(most: float) -> float:
            return min(most, closing - loop.time())

        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(left(0.5), 0.01))
        if self.vitals:
            await _within(self.vitals.close(), left(0.2), "closing the health checks")
        await _within(asyncio.gather(*(runner.source.close() for runner in self.runners), return_exceptions=True),
                      left(0.5), "closing the projections' consumers")
        if self.store:
            await _within(asyncio.to_thread(self.store.close), left(0.5), "closing the store")
        if self.nats and not await _within(self.nats.drain(), left(0.5), "draining NATS"):
            await _within(self.nats.close(), left(0.2), "closing NATS")
        if self.pool and not await _within(self.pool.close(), left(0.5), "closing the database pool"):
            self.pool.terminate()
        log.info("%s stopped", self.name)

    async def _projections_finish(self, deadline: float) -> None:
        """Each projection applies the batch in hand, then stops (those still busy at the deadline are cancelled
        after: their batch is applied again at the next start)."""
        if projecting := [task for task in self._tasks if "-projection-" in task.get_name()]:
            await asyncio.wait(projecting, timeout=max(deadline - asyncio.get_running_loop().time(), 0.01))

    async def _relay_flush(self, deadline: float) -> None:
        """The relay publishes everything saved (what it cannot by the deadline, it publishes at the next start)."""
        if self.relay is None:
            return
        self.relay.stop()
        loop = asyncio.get_running_loop()
        if relaying := [task for task in self._tasks if task.get_name() == f"{self.name}-relay"]:
            await asyncio.wait(relaying, timeout=max(deadline - loop.time(), 0.01))
        published = await _within(self.relay.flush(), deadline - loop.time(), f"{self.name} relay flush")
        log.info("%s stopping: relay %s at position %s", self.name,
                 "published everything" if published else "left the rest for the next start", self.relay.position,
                 extra={"published_position": self.relay.position})

    def streams_needed(self) -> list[str]:
        """The streams this service publishes to or reads (only the NATS administrator creates them)."""
        names = {stream_name(self.name)} | {stream_name(service) for projection in self.projections
                                            for service in projection.follows}
        if self.name == "referral":
            names |= {INGEST_STREAM, *ANSWER_STREAMS.values()}
        return sorted(names)

    def source_of(self, service: str, reader: str) -> EventSource:
        """Where `reader` reads `service`'s events: this service's own store, or the other service's stream."""
        if service == self.name:
            if self.store is None:
                raise ValueError(f"{reader} follows {service}'s own events, but {service} has no store")
            return StoreSource(service, self.store)
        return StreamSource(self.js, service, reader=f"{self.name}-{reader}-{service}",
                            max_deliver=self.settings.max_deliver)

    def in_background(self, work: Awaitable[None], name: str) -> asyncio.Task:
        """Run `work` for as long as the service runs; it is cancelled when the service stops (after the
        `finishing` steps, the projections and the relay have had their chance to end cleanly)."""
        task = asyncio.create_task(work, name=f"{self.name}-{name}")
        self._tasks.append(task)
        return task

    def watch(self, name: str, probe: Probe) -> None:
        """Report `probe`'s figures under `name` in /health and the metrics (a `backlog` counts for /ready)."""
        self.watched[name] = probe

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
        (`referral:12`, ...): a 422 for a position they do not follow, a 503 (retry) if not reached in time, or
        at once if the projection cannot move now (its database or its source away)."""
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
                await self._until_reached(runner, int(match["position"]), token)

    async def _until_reached(self, runner: ProjectionRunner, position: int, token: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.read_wait_seconds
        while not await runner.wait_for(position, min(READ_WAIT_SLICE_SECONDS, max(deadline - loop.time(), 0))):
            if stuck := self.why_stuck(runner, position):
                raise HTTPException(503, f"the {runner.projection.name} read model cannot reach {token} now: "
                                         f"{stuck}; try again", headers={"Retry-After": "1"})
            if loop.time() >= deadline:
                raise HTTPException(
                    503, f"the {runner.projection.name} read model has not reached {token} within "
                         f"{self.settings.read_wait_seconds:.0f}s; try again",
                    headers={"Retry-After": "1"})

    def why_stuck(self, runner: ProjectionRunner, position: int) -> str | None:
        """Why `runner` cannot move towards `position` now, if it cannot: the database or NATS away, its source
        silent (its relay is not publishing), or the runner itself waiting."""
        snapshot = self.vitals.snapshot if self.vitals else {}
        if snapshot.get("database", "ok") != "ok":
            return f"the database is {snapshot['database']}"
        if isinstance(runner.source, StreamSource):
            if snapshot.get("nats", "ok") != "ok":
                return f"NATS is {snapshot['nats']}"
            service = runner.source_service
            heard = self.vitals.heard.get(service) if self.vitals else None
            if heard and position > heard.published_position and (silent := self.vitals.silence_of(service)):
                return f"{silent}, which had published up to {heard.published_position}"
        return runner.blocked

    async def projection_states(self) -> list[dict[str, Any]]:
        """Each projection: the sources it follows, its position and lag in each (from the source store's
        head, as /health reports it), and any rebuild."""
        states: dict[str, dict[str, Any]] = {}
        lags = self.vitals.snapshot.get("projection_lag", {}) if self.vitals else {}
        for runner in self.runners:
            state = states.setdefault(runner.projection.name, {
                "projection": runner.projection.name, "service": self.name, "sources": {},
                "rebuild": vars(self.rebuilds[runner.projection.name]).copy()
                if runner.projection.name in self.rebuilds else None})
            state["sources"][runner.source_service] = {
                "position": runner.position, "source_position": runner.source_position,
                "lag": lags.get(runner.projection.name, {}).get(runner.source_service, "unknown: not checked yet")}
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

    async def health(self, fresh: bool = False) -> JSONResponse:
        """The last snapshot of the vital signs (taken within the last second), never a live probe: it answers
        at once whatever is down. `fresh` waits up to a second for a check begun after the request."""
        if fresh:
            await self.vitals.fresh(within=1.0)
        body, status = self.vitals.health()
        return JSONResponse(body, status_code=status)

    def readiness(self) -> JSONResponse:
        body, status = self.vitals.readiness()
        return JSONResponse(body, status_code=status)


CLOSING_SECONDS = 2.0
"""Once the drain deadline has passed: how long closing the connections may take, all together."""

READ_WAIT_SLICE_SECONDS = 0.2
"""A read waiting for a position looks this often whether the projection can still move."""


async def _within(work: Awaitable[Any], seconds: float, what: str) -> bool:
    """Await `work` for at most `seconds` (cancelled after); whether it finished. Used while stopping, where
    a step that hangs (a server away) must not keep the process from exiting."""
    try:
        await asyncio.wait_for(work, max(seconds, 0.01))
        return True
    except TimeoutError:
        log.warning("%s did not finish in time", what)
    except Exception as error:  # noqa: BLE001 - stopping goes on
        log.warning("%s failed: %s", what, type(error).__name__)
    return False


def create_schema(database_url: str, schema: str, timeout_seconds: float = 1.0) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=max(1, round(timeout_seconds))) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def service_app(runtime: ServiceRuntime, title: str, description: str) -> FastAPI:
    """The FastAPI app of a service, with /health, traced requests and 422s that list every reason."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI(title=title, description=description, lifespan=runtime.lifespan)
    map_domain_errors(app)
    from shared.idempotency import install_idempotency, kept_by  # every write route takes an Idempotency-Key
    install_idempotency(app, kept_by(runtime), subject_of=lambda headers: verified_subject(app, headers))
    from shared.request_guard import RequestGuard  # outermost: size limits and strict JSON before anything reads
    app.add_middleware(RequestGuard, max_request_bytes=runtime.settings.max_request_bytes)

    @app.get("/health", tags=["operations"], dependencies=[PUBLIC],
             responses={503: {"description": "something is down; `down` names it"}})
    async def health(fresh: Annotated[bool, Query(description="wait (up to 1 s) for a check begun after this "
                                                              "request")] = False) -> JSONResponse:
        """The service's vital signs, checked every second: database, NATS, store head, relay lag, each
        projection's lag from its source store's head, backlogs, dead letters, and what is down (then 503)."""
        return await runtime.health(fresh)

    @app.get("/ready", tags=["operations"], dependencies=[PUBLIC],
             responses={503: {"description": "not keeping up; `reasons` say why"}})
    async def ready() -> JSONResponse:
        """Whether the service keeps up: nothing down, and every lag and backlog small and not growing."""
        return runtime.readiness()

    @app.get("/projections", tags=["operations"])
    async def projections(_: Administering) -> list[dict[str, Any]]:
        """Each read model of this service: the sources it follows, its position and lag, any rebuild."""
        return await runtime.projection_states()

    @app.post("/projections/{name}/rebuild", tags=["operations"], status_code=202)
    async def rebuild_projection(name: str, _: Administering) -> dict[str, Any]:
        """Rebuild a read model from the events into fresh tables; the old ones answer until it is complete."""
        return vars(runtime.start_rebuild(name)).copy()

    show_roles_in_openapi(app)
    FastAPIInstrumentor.instrument_app(app)
    return app
