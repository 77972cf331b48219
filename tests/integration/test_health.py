"""/health, /ready and the metrics tell the truth: lags from the source store's head, silence, backlogs.

A service following the referral stream runs in this process (its lifespan, its routes) on the real NATS and
PostgreSQL; the referral service is played by publishing its events and its heads as its relay and its checks do.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.referral.district_inbox import DistrictInbox, InboxTransport
from shared.service import ServiceRuntime, service_app
from shared.settings import Settings
from shared.telemetry import observe_vitals
from shared.vitals import heads_subject
from tests.integration.projection_fixtures import CountedReferrals, a_referral, publish
from tests.integration.test_district_inbox import a_referral as a_district_referral
from tests.unit.tokens import bearer, trusting_test_tokens

SILENT_AFTER = 1.0
READY_MAX_LAG = 1_000
GROWING = 3


@dataclass
class RuntimeInSchema(ServiceRuntime):
    """A service runtime keeping its tables in the test's own schema."""

    in_schema: str = ""

    @property
    def schema(self) -> str:
        return self.in_schema


@dataclass
class Running:
    runtime: ServiceRuntime
    http: httpx.AsyncClient

    async def health(self) -> dict:
        return (await self.http.get("/health", params={"fresh": "true"})).json()

    async def ready(self) -> httpx.Response:
        return await self.http.get("/ready")


@pytest.fixture
async def follower(nats_server, nats_client, postgres, schema) -> AsyncIterator[Running]:
    """(`nats_client` makes the streams, as the administrator does: the service only waits for them.)"""
    settings = Settings(nats_url=nats_server.url, database_url=postgres.url, environment="test",
                        vitals_interval_seconds=0.2, silent_source_seconds=SILENT_AFTER, ready_max_lag=READY_MAX_LAG,
                        ready_growing_samples=GROWING)
    runtime = RuntimeInSchema(name="journeys", settings=settings, projections=[CountedReferrals()], in_schema=schema)
    app = service_app(runtime, "a follower", "follows the referral stream")
    app.state.runtime = runtime
    async with runtime.lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=trusting_test_tokens(app)),
                                                         base_url="http://follower", headers=bearer()) as http:
        yield Running(runtime, http)


async def say_head(nc, store_position: int, published_position: int) -> None:
    """What the referral service's checks publish each second."""
    await nc.publish(heads_subject("referral"), json.dumps(
        {"store_position": store_position, "published_position": published_position}).encode())
    await nc.flush()


async def until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    """Poll `condition` (a function, or a coroutine function) until it holds, failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_projections_lag_counts_the_events_its_source_saved_but_has_not_published_yet(
        follower: Running, nats_client):
    await publish(nats_client.jetstream(), [a_referral() for _ in range(20)])
    [runner] = follower.runtime.runners
    await until(lambda: runner.source_position == 20)
    await say_head(nats_client, store_position=2_377, published_position=20)

    health = await follower.health()
    [state] = (await follower.http.get("/projections")).json()
    ready = await follower.ready()

    assert health["projection_lag"] == {"counted": {"referral": 2_357}}  # the stream alone says 0
    assert health["heads"]["referral"]["store_position"] == 2_377 and health["status"] == "ok"
    assert state["sources"]["referral"] == {"position": 20, "source_position": 20, "lag": 2_357}
    assert ready.status_code == 503
    assert ready.json()["reasons"] == [f"counted lag behind referral is 2357, above {READY_MAX_LAG}"]


async def test_a_source_not_heard_from_makes_the_lag_unknown_and_the_service_not_ready(
        follower: Running, nats_client):
    await say_head(nats_client, store_position=0, published_position=0)
    await until(lambda: follower.runtime.vitals.snapshot["projection_lag"]["counted"]["referral"] == 0)

    await until(lambda: "no word from referral for" in str(follower.runtime.vitals.snapshot["projection_lag"]),
                SILENT_AFTER + 3)
    health = await follower.health()
    ready = await follower.ready()

    assert health["projection_lag"]["counted"]["referral"].startswith("unknown: no word from referral for")
    assert health["status"] == "ok"  # nothing of its own is down: it is not keeping up, which /ready says
    assert ready.status_code == 503 and "no word from referral" in ready.json()["reasons"][0]


async def test_ready_while_lags_are_small_and_steady_and_not_once_a_lag_grows_at_every_check(
        follower: Running, nats_client):
    await publish(nats_client.jetstream(), [a_referral() for _ in range(5)])
    [runner] = follower.runtime.runners
    await until(lambda: runner.source_position == 5)
    growing = asyncio.Event()

    async def referral_checks() -> None:
        head = 5
        while True:
            head += 10 if growing.is_set() else 0
            await say_head(nats_client, head, 5)
            await asyncio.sleep(0.05)

    vitals = follower.runtime.vitals

    async def checks_pass(count: int) -> None:  # each check a fifth of a second apart: heads move meanwhile
        at = vitals.rounds
        await until(lambda: vitals.rounds >= at + count)

    speaking = asyncio.create_task(referral_checks())
    try:
        await checks_pass(GROWING + 1)
        steady = await follower.ready()
        growing.set()
        await checks_pass(GROWING + 1)
        falling_behind = await follower.ready()
    finally:
        speaking.cancel()

    assert (steady.status_code, steady.json()["reasons"]) == (200, [])
    assert falling_behind.status_code == 503
    [reason] = falling_behind.json()["reasons"]
    assert reason.startswith(f"counted lag behind referral grew at each of the last {GROWING} checks")


async def test_the_metrics_are_the_snapshots_figures(follower: Running, nats_client):
    await publish(nats_client.jetstream(), [a_referral() for _ in range(3)])
    await until(lambda: follower.runtime.runners[0].source_position == 3)
    await say_head(nats_client, store_position=10, published_position=3)
    await follower.health()
    reader = InMemoryMetricReader()
    observe_vitals(lambda: follower.runtime.vitals.snapshot, MeterProvider(metric_readers=[reader]).get_meter("t"))

    points = {(metric.name, tuple(sorted(point.attributes.items()))): point.value
              for resource in reader.get_metrics_data().resource_metrics for scope in resource.scope_metrics
              for metric in scope.metrics for point in metric.data.data_points}

    assert points[("casetrack.projection.lag", (("projection", "counted"), ("source", "referral")))] == 7
    assert points[("casetrack.up", (("part", "database"),))] == 1
    assert points[("casetrack.up", (("part", "nats"),))] == 1
    assert ("casetrack.relay.lag", ()) not in points  # this service has no store, so no relay


async def test_the_district_inbox_backlog_and_the_age_of_its_oldest_unanswered_message(
        nats_client, referrals_store, schema):
    inbox = DistrictInbox(referrals_store, schema)
    await asyncio.to_thread(inbox.prepare)
    transport = InboxTransport(inbox, nats_client.jetstream())
    await transport.prepare()
    for n in range(5):
        await nats_client.jetstream().publish("casetrack.ingest.preston.referral", a_district_referral(f"BL-{n}"))

    async def oldest_waited_a_second() -> bool:
        return ((await transport.backlog())["oldest_unanswered_seconds"] or 0) >= 1.0

    async def answered() -> bool:
        return (await transport.backlog())["backlog"] == 0

    await until(oldest_waited_a_second, 5)
    waiting = await transport.backlog()
    running = asyncio.create_task(transport.run())
    try:
        await until(answered, 20)
        after = await transport.backlog()
    finally:
        transport.stop()
        await asyncio.wait_for(running, 5)

    assert (waiting["backlog"], waiting["pending"], waiting["in_hand"]) == (5, 5, 0)
    assert 1.0 <= waiting["oldest_unanswered_seconds"] < 5.0
    assert after == {"backlog": 0, "pending": 0, "in_hand": 0, "oldest_unanswered_seconds": None}
