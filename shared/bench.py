"""`casetrack bench`: casetrack's throughput, each figure beside a raw baseline taken in the same run.

The bench starts its own nats-server and PostgreSQL (the launcher's, on free ports in a temporary
folder), measures the raw baselines on them, then casetrack's figures on the same servers.

Adding a measurement is one function decorated with `@figure`, returning a `Figure` (its value and
the baseline it stands beside, from `await bench.baseline(NAME)`); adding a baseline is one function
decorated with `@baseline(NAME)` returning a `Reading`. No test times anything: the figures are
reported, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from rich.console import Console
from rich.table import Table

from shared.auth import embedded_signing_key, mint_token
from shared.devservers import NatsServer, Postgres, System, free_port
from shared.settings import Settings
from shared.streams import ensure_streams
from shared.subjects import (
    POSITION_HEADER,
    accepted_subject,
    ingest_subject,
    rejected_subject,
    stream_name,
    subject_of,
)

BENCH_DISTRICTS = ("preston", "dover", "wyre", "thanet")
HTTP_CLIENTS = 16


@dataclass(frozen=True)
class Size:
    """How much each measurement does: `events` for streams, backlogs and COPY; `requests` for
    HTTP referrals, district messages and single-row commits (each is one transaction)."""

    events: int
    requests: int
    sustain_seconds: float = 20.0
    """How long the sustained-writes figure keeps writing."""
    young_people: int = 0
    """The synthetic county of the journeys figures (shared/bench_journeys.py); 0: not measured."""
    journeys_only: bool = False
    """Measure the journeys figures alone."""
    seed: int = 14
    """The synthetic county's seed."""

    @classmethod
    def of(cls, events: int, tiny: bool = False, young_people: int = 0, journeys_only: bool = False,
           seed: int = 14) -> Size:
        journeys = {"young_people": young_people, "journeys_only": journeys_only and young_people > 0, "seed": seed}
        if tiny:
            return cls(events=300, requests=40, sustain_seconds=3.0, **journeys)
        return cls(events=events, requests=max(min(events // 20, 2_000), 40), **journeys)


@dataclass(frozen=True)
class Reading:
    """One measured rate (or time) of a raw engine, with no casetrack code in between."""

    label: str
    value: float
    unit: str


@dataclass(frozen=True)
class Figure:
    """One casetrack figure beside the raw baseline it is bounded by."""

    label: str
    value: float
    unit: str
    baseline: str
    target: str
    note: str = ""


@dataclass(frozen=True)
class NotMeasured:
    """A figure issue 8 asks for that this bench does not measure yet."""

    label: str
    unit: str
    target: str
    why: str


BASELINES: dict[str, Callable[[Bench], Awaitable[Reading]]] = {}
FIGURES: dict[str, Callable[[Bench], Awaitable[Figure]]] = {}
NOT_MEASURED: dict[str, NotMeasured] = {}


def baseline(name: str):
    def register(measure: Callable[[Bench], Awaitable[Reading]]):
        BASELINES[name] = measure
        return measure
    return register


def figure(measure: Callable[[Bench], Awaitable[Figure]]):
    FIGURES[measure.__name__] = measure
    return measure


@dataclass
class Bench:
    """The servers of one bench run, its size, and the baselines measured on them so far."""

    nats: NatsServer
    postgres: Postgres
    folder: Path
    size: Size
    say: Callable[[str], None] = lambda _: None
    readings: dict[str, Reading] = field(default_factory=dict)
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Tables a measurement reports beside its figures (the journeys bench: what it generated, each read's calls)."""
    _system: System | None = None
    _followers: System | None = None

    async def baseline(self, name: str) -> Reading:
        if name not in self.readings:
            self.say(f"baseline: {name}")
            self.readings[name] = await BASELINES[name](self)
        return self.readings[name]

    async def connect(self) -> nats.NATS:
        return await nats.connect(self.nats.url)

    async def database(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.postgres.url)

    def referral_service(self) -> str:
        """The referral service, started once as its own process the way `casetrack up` starts it; its URL.
        Traces are not printed to its log (the development default), which would cost a sixth of its CPU."""
        if self._system is None:
            base = free_port() - 1  # the referral service listens on base + 1
            settings = Settings(data_dir=self.folder / "system", base_port=base, nats_url=self.nats.url,
                                database_url=self.postgres.url, environment="test", console_traces=False,
                                write_rate_per_minute=10**9, write_burst=10**9)  # measured, not limited
            self._system = System(settings, services=["referral"])
            self._system.create_streams()  # the administrator's work (the bench's own server is an open one)
            self._system.start_services()
        return self._system.services["referral"].url

    def followers(self) -> dict[str, str]:
        """The services that follow the referral stream or each other (placement, outcomes, finance, journeys: the
        journeys follow finance's costs too), started beside the referral service the same way; the URL of each."""
        self.referral_service()
        if self._followers is None:
            self._followers = System(self._system.settings,
                                     services=["placement", "outcomes", "finance", "journeys"])
            self._followers.start_services()
        return {name: service.url for system in (self._system, self._followers)
                for name, service in system.services.items()}

    def authorization(self) -> dict[str, str]:
        """The header of an administrator's token for the services started here (after `referral_service`)."""
        key = embedded_signing_key(self._system.settings.data_dir)
        return {"Authorization": f"Bearer {mint_token(key, role='admin', subject='bench', minutes=24 * 60)}"}

    def stop(self) -> None:
        for system in (self._followers, self._system):
            if system is not None:
                system.stop()


def rate(count: int, started: float) -> float:
    return count / max(time.perf_counter() - started, 1e-9)


def an_event_body() -> bytes:
    """The JSON of a real ReferralMade, as the relay publishes it: the raw baselines move the same bytes."""
    from services.referral.domain import Case

    case = Case.make_referral(**a_case_referral())
    return case.collect_events()[0].model_dump_json().encode()


def a_case_referral(district: str = "preston") -> dict[str, Any]:
    from shared.contracts.vocabulary import Cohort, Gateway, PresentingReason

    return dict(person_ref=uuid.uuid4(), district=district, gateway=Gateway.district_housing_options,
                cohort=Cohort.homeless_16_17, date_of_birth=date(2009, 3, 14),
                presenting_reason=PresentingReason.parental_eviction, flags=[],
                occurred_at=datetime(2026, 1, 20, 10, tzinfo=UTC), now=datetime.now(UTC))


# ---- raw baselines -------------------------------------------------------------------------------------

RAW_STREAM = "BENCH_RAW"


@baseline("jetstream_publish")
async def jetstream_publish(bench: Bench) -> Reading:
    """Event-sized messages with a Nats-Msg-Id and a position header, acks pipelined (nats-py publish_async)."""
    nc = await bench.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=RAW_STREAM, subjects=["bench.raw.>"], storage=StorageType.FILE,
                                     num_replicas=1, duplicate_window=120.0))
    body = an_event_body()
    started = time.perf_counter()
    acks = [await js.publish_async("bench.raw.preston.ReferralMade", body,
                                   headers={"Nats-Msg-Id": uuid.uuid4().hex, POSITION_HEADER: str(n)})
            for n in range(1, bench.size.events + 1)]
    await asyncio.gather(*acks)
    published = rate(len(acks), started)
    await nc.drain()
    return Reading("JetStream publish, acks pipelined", published, "events/s")


@baseline("jetstream_consume")
async def jetstream_consume(bench: Bench) -> Reading:
    """Pull-fetch the raw stream in batches of 500, acknowledging each batch (ack all)."""
    await bench.baseline("jetstream_publish")  # the messages to consume
    nc = await bench.connect()
    js = nc.jetstream()
    subscription = await js.pull_subscribe("bench.raw.>", durable="bench-raw", stream=RAW_STREAM,
                                           config=ConsumerConfig(ack_policy=AckPolicy.ALL))
    taken = 0
    started = time.perf_counter()
    while taken < bench.size.events:
        batch = await subscription.fetch(500, timeout=10)
        await batch[-1].ack()
        taken += len(batch)
    consumed = rate(taken, started)
    await nc.drain()
    return Reading("JetStream pull consume", consumed, "events/s")


@baseline("postgres_copy")
async def postgres_copy(bench: Bench) -> Reading:
    """COPY event-shaped rows (id, aggregate, version, type, JSON) into a table with the store's keys."""
    conn = await bench.database()
    await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_raw")
    await conn.execute("CREATE TABLE bench_raw.events (notification_id bigserial PRIMARY KEY,"
                       " originator_id uuid NOT NULL, originator_version int NOT NULL, topic text NOT NULL,"
                       " state bytea NOT NULL, UNIQUE (originator_id, originator_version))")
    body = an_event_body()
    rows = [(uuid.uuid4(), 1, "ReferralMade", body) for _ in range(bench.size.events)]
    started = time.perf_counter()
    await conn.copy_records_to_table("events", schema_name="bench_raw", records=rows,
                                     columns=["originator_id", "originator_version", "topic", "state"])
    copied = rate(len(rows), started)
    await conn.close()
    return Reading("PostgreSQL COPY of event rows", copied, "rows/s")


@baseline("postgres_commit")
async def postgres_commit(bench: Bench) -> Reading:
    """One INSERT per transaction, one after another on one connection: the durable commit rate (fsync on)."""
    conn = await bench.database()
    await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_raw")
    await conn.execute("CREATE TABLE bench_raw.commits (id uuid PRIMARY KEY, state bytea NOT NULL)")
    body = an_event_body()
    started = time.perf_counter()
    for _ in range(bench.size.requests):
        await conn.execute("INSERT INTO bench_raw.commits (id, state) VALUES ($1, $2)", uuid.uuid4(), body)
    committed = rate(bench.size.requests, started)
    await conn.close()
    return Reading("PostgreSQL single-row commits", committed, "commits/s")


# ---- casetrack's figures -------------------------------------------------------------------------------


@figure
async def relay(bench: Bench) -> Figure:
    """The outbox relay draining a backlog of recorded ReferralMade events from the referral store."""
    from services.referral.application import Referrals
    from services.referral.domain import Case
    from shared.contracts import EventContext
    from shared.eventstore import postgres_env
    from shared.outbox import OutboxRelay

    against = await bench.baseline("jetstream_publish")
    schema = "bench_relay"
    conn = await bench.database()
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.close()
    store = await asyncio.to_thread(Referrals, postgres_env(bench.postgres.url, schema, lock_timeout_seconds=30))

    def record_backlog() -> int:
        position, left = 0, bench.size.events
        while left:
            cases = [Case.make_referral(**a_case_referral(BENCH_DISTRICTS[n % len(BENCH_DISTRICTS)]))
                     for n in range(min(left, 1_000))]
            position = store.record(EventContext(actor="bench"), *cases)
            left -= len(cases)
        return position

    bench.say(f"relay: recording a backlog of {bench.size.events} events")
    last = await asyncio.to_thread(record_backlog)
    nc = await bench.connect()
    js = nc.jetstream()
    await ensure_streams(js, replicas=1)
    await js.purge_stream(stream_name("referral"))
    pool = await asyncpg.create_pool(bench.postgres.url, min_size=1, max_size=2)
    outbox = OutboxRelay("referral", store, nc, pool, schema)
    await outbox.prepare()
    bench.say("relay: draining the backlog")
    started = time.perf_counter()
    while outbox.position < last:
        await outbox.publish_pending()
    relayed = rate(bench.size.events, started)
    await js.purge_stream(stream_name("referral"))  # the referral service measured next starts on an empty stream
    await pool.close()
    await nc.drain()
    await asyncio.to_thread(store.close)
    return Figure("relay", relayed, "events/s", "jetstream_publish", ">= 10,000",
                  note=f"backlog of {bench.size.events}; baseline {against.value:,.0f}")


def a_referral_request(n: int) -> dict[str, Any]:
    return {"district": BENCH_DISTRICTS[n % len(BENCH_DISTRICTS)], "gateway": "district_housing_options",
            "cohort": "homeless_16_17", "presenting_reason": "parental_eviction",
            "young_person": {"given_name": f"Bench{uuid.uuid4().hex[:10]}",
                             "family_name": f"Load{uuid.uuid4().hex[:10]}", "date_of_birth": "2009-03-14"},
            "occurred_at": "2026-01-20T10:00:00Z"}


@figure
async def http_referrals(bench: Bench) -> Figure:
    """POST /referrals from 16 concurrent clients against the referral service in its own process."""
    await bench.baseline("postgres_commit")
    url = await asyncio.to_thread(bench.referral_service)
    requests = bench.size.requests
    sent = iter(range(requests))
    refused: list[str] = []

    async def client(http: httpx.AsyncClient) -> None:
        for n in sent:
            response = await http.post("/referrals", json=a_referral_request(n))
            if response.status_code != 201:
                refused.append(f"{response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=HTTP_CLIENTS, max_keepalive_connections=HTTP_CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=bench.authorization()) as http:
        for n in range(HTTP_CLIENTS):  # warm up: connections open, first requests served
            await http.post("/referrals", json=a_referral_request(n))
        bench.say(f"HTTP referrals: {requests} from {HTTP_CLIENTS} clients")
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(HTTP_CLIENTS)))
        made = rate(requests, started)
    if refused:
        raise RuntimeError(f"{len(refused)} referrals were not made, e.g. {refused[0]}")
    return Figure("HTTP referrals, 16 clients", made, "referrals/s", "postgres_commit", ">= 500",
                  note="referral service in its own process, as casetrack up runs it")


def a_district_referral(ref: str) -> bytes:
    return json.dumps({
        "district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-01-20T09:30:00Z",
        "gateway": "district_housing_options", "cohort": "homeless_16_17", "presenting_reason": "parental_eviction",
        "young_person": {"given_name": f"Bench{uuid.uuid4().hex[:10]}", "family_name": f"Ingest{uuid.uuid4().hex[:10]}",
                         "date_of_birth": "2009-05-01"},
        "flags": []}).encode()


@figure
async def district_ingest(bench: Bench) -> Figure:
    """Referral messages published on casetrack.ingest.<district>.referral until each is answered accepted
    (its case event, vault row and inbox record saved in one transaction)."""
    await bench.baseline("postgres_commit")
    await asyncio.to_thread(bench.referral_service)
    messages = bench.size.requests
    run = uuid.uuid4().hex[:6]
    answered: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
    nc = await bench.connect()
    for district in BENCH_DISTRICTS:
        for subject, answer in ((accepted_subject(district), "accepted"), (rejected_subject(district), "rejected")):
            async def arrive(msg, answer=answer) -> None:
                await answered.put((answer, json.loads(msg.data)))
            await nc.subscribe(subject, cb=arrive)
    await nc.flush()
    js = nc.jetstream()
    bench.say(f"district ingest: {messages} referral messages")
    started = time.perf_counter()
    acks = [await js.publish_async(ingest_subject(BENCH_DISTRICTS[n % len(BENCH_DISTRICTS)], "referral"),
                                   a_district_referral(f"B{run}-{n}")) for n in range(messages)]
    await asyncio.gather(*acks)
    mine, rejected = 0, []
    while mine < messages:
        answer, body = await asyncio.wait_for(answered.get(), timeout=120)  # stalled: the inbox has stopped
        if str(body.get("district_ref", "")).startswith(f"B{run}-"):
            mine += 1
            if answer == "rejected":
                rejected.append(body.get("reasons"))
    accepted = rate(messages, started)
    await nc.drain()
    if rejected:
        raise RuntimeError(f"{len(rejected)} district referrals were rejected, e.g. {rejected[0]}")
    return Figure("district ingest", accepted, "referrals/s", "postgres_commit",
                  ">= 1,000", note="each with its case event, vault row and answer")


async def a_referral_backlog(bench: Bench, js: Any, count: int) -> None:
    """`count` ReferralMade events on the referral stream, published as the relay publishes them."""
    from services.referral.domain import Case

    await ensure_streams(js, replicas=1)
    await js.purge_stream(stream_name("referral"))
    for start in range(0, count, 5_000):
        events = [Case.make_referral(**a_case_referral(BENCH_DISTRICTS[n % len(BENCH_DISTRICTS)])).collect_events()[0]
                  for n in range(start, min(start + 5_000, count))]
        acks = [await js.publish_async(subject_of("referral", event.district, event.event_type),
                                       event.model_dump_json().encode(),
                                       headers={"Nats-Msg-Id": str(event.event_id), POSITION_HEADER: str(position)})
                for position, event in enumerate(events, start=start + 1)]
        await asyncio.gather(*acks)


@figure
async def projection_catch_up(bench: Bench) -> Figure:
    """A new projection (cases per district and cohort, one row per referral) catching up with a backlog of
    ReferralMade events on the referral stream, as a service runs it: batches of 1,000, each one transaction,
    the next batch read while one is applied."""
    from services.journeys.projections.cases_by_district import CasesByDistrict
    from shared.projections import ProjectionRunner, StreamSource, prepare_projection

    against = await bench.baseline("jetstream_consume")
    count = bench.size.events
    nc = await bench.connect()
    js = nc.jetstream()
    bench.say(f"projection catch-up: publishing a backlog of {count} events")
    await a_referral_backlog(bench, js, count)
    pool = await asyncpg.create_pool(bench.postgres.url, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_projection")
        await prepare_projection(conn, "bench_projection", CasesByDistrict())
    runner = ProjectionRunner(CasesByDistrict(), "referral", StreamSource(js, "referral", "bench-catch-up"), pool,
                              "bench_projection", batch_size=1_000)
    await runner.start()
    bench.say("projection catch-up: applying")
    started = time.perf_counter()
    running = asyncio.create_task(runner.run())
    if not await runner.wait_for(count, timeout=600):
        raise RuntimeError(f"the projection did not catch up with {count} events within 600 s")
    applied = rate(count, started)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await runner.source.close()
    await pool.close()
    await nc.drain()
    return Figure("projection catch-up", applied, "events/s", "jetstream_consume", ">= 20,000 (backlog 200,000)",
                  note=f"backlog of {count}; baseline {against.value:,.0f}")


@baseline("jetstream_round_trip")
async def jetstream_round_trip(bench: Bench) -> Reading:
    """p99 milliseconds from publishing an event-sized message (ack awaited) to a pull consumer holding it,
    at a steady 500 messages/s: the least lag any consumer of a stream can have."""
    nc = await bench.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_LAG", subjects=["bench.lag.>"], storage=StorageType.FILE,
                                     num_replicas=1))
    subscription = await js.pull_subscribe("bench.lag.>", durable="bench-lag", stream="BENCH_LAG")
    body = an_event_body()
    sent: dict[int, float] = {}
    lags: list[float] = []
    count = min(bench.size.requests, 1_000)

    async def consume() -> None:
        while len(lags) < count:
            try:
                for msg in await subscription.fetch(100, timeout=1):
                    lags.append(time.perf_counter() - sent[int(msg.headers[POSITION_HEADER])])
                    await msg.ack()
            except nats.errors.TimeoutError:
                continue

    consumer = asyncio.create_task(consume())
    await steadily(count, 500, lambda n: publish_timed(js, body, n, sent))
    await asyncio.wait_for(consumer, 60)
    await nc.drain()
    return Reading("JetStream publish-to-consumer p99 at 500/s", percentile(lags, 99) * 1000, "ms")


async def publish_timed(js: Any, body: bytes, n: int, sent: dict[int, float]) -> None:
    sent[n] = time.perf_counter()
    await js.publish("bench.lag.preston.ReferralMade", body, headers={POSITION_HEADER: str(n)})


async def steadily(count: int, per_second: float, act: Callable[[int], Awaitable[Any]]) -> None:
    """Do `act(n)` for n = 1..count at a steady rate, each as its own task (a slow one does not slow the rest)."""
    started = time.perf_counter()
    tasks = []
    for n in range(1, count + 1):
        delay = started + n / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(act(n)))
    await asyncio.gather(*tasks)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


@figure
async def lag(bench: Bench) -> Figure:
    """End-to-end lag at a steady 500 events/s: from an event's save returning to its writer to a projection
    in another service having applied it (through the outbox relay, JetStream and the projection runner,
    each as a service runs it)."""
    from services.journeys.projections.cases_by_district import CasesByDistrict
    from services.referral.application import Referrals
    from services.referral.domain import Case
    from shared.contracts import EventContext
    from shared.eventstore import postgres_env
    from shared.outbox import OutboxRelay
    from shared.projections import ProjectionRunner, StreamSource, prepare_projection

    await bench.baseline("jetstream_round_trip")
    schema = "bench_lag"
    count = min(bench.size.requests, 2_000)
    pool = await asyncpg.create_pool(bench.postgres.url, min_size=2, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await prepare_projection(conn, schema, CasesByDistrict())
    store = await asyncio.to_thread(Referrals, postgres_env(bench.postgres.url, schema, lock_timeout_seconds=30))
    nc = await bench.connect()
    js = nc.jetstream()
    await ensure_streams(js, replicas=1)
    await js.purge_stream(stream_name("referral"))
    relay = OutboxRelay("referral", store, nc, pool, schema)
    await relay.prepare()
    runner = ProjectionRunner(CasesByDistrict(), "referral",
                              StreamSource(js, "referral", "bench-lag"), pool, schema)
    await runner.start()
    background = [asyncio.create_task(relay.run()), asyncio.create_task(runner.run())]
    lags: list[float] = []
    writes: list[float] = []

    async def one_event(n: int) -> None:
        case = Case.make_referral(**a_case_referral(BENCH_DISTRICTS[n % len(BENCH_DISTRICTS)]))
        asked = time.perf_counter()
        position = await asyncio.to_thread(store.record, EventContext(actor="bench"), case)
        saved = time.perf_counter()
        relay.nudge()
        if not await runner.wait_for(position, timeout=60):
            raise RuntimeError(f"the projection did not reach position {position} within 60 s")
        writes.append(saved - asked)
        lags.append(time.perf_counter() - saved)

    bench.say(f"lag: {count} events at 500/s through the relay into a projection")
    await steadily(count, 500, one_event)
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    await runner.source.close()
    await pool.close()
    await nc.drain()
    await asyncio.to_thread(store.close)
    p50, p99 = percentile(lags, 50) * 1000, percentile(lags, 99) * 1000
    return Figure("lag p99 at 500 events/s", p99, "ms", "jetstream_round_trip", "p99 < 250",
                  note=f"p50 {p50:,.0f} ms over {count} events, from the write's commit to the read model; "
                       f"the writes themselves took p50 {percentile(writes, 50) * 1000:,.0f} ms, "
                       f"p99 {percentile(writes, 99) * 1000:,.0f} ms")


SUSTAINED_WRITERS = 32


@figure
async def sustained_writes(bench: Bench) -> Figure:
    """The write rate the services sustain, and whether every lag stays flat meanwhile: POST /referrals from 32
    parallel clients (8 at --tiny) for `sustain_seconds`, with the referral, placement and journeys services
    running, while the relay's lag and every projection's lag (each from its source store's head, as /health
    reports them) are sampled each second. Flat: the last third of the samples is no higher on average than the
    first third (with a little slack for noise near zero)."""
    await bench.baseline("postgres_commit")
    urls = await asyncio.to_thread(bench.followers)
    writers = SUSTAINED_WRITERS if bench.size.requests >= 1_000 else 8
    limits = httpx.Limits(max_connections=writers + len(urls), max_keepalive_connections=writers + len(urls))
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=bench.authorization()) as http:
        bench.say("sustained writes: waiting for every projection to catch up with the figures before")
        await caught_up(http, urls, within=120)
        made, dropped, refused, samples = 0, 0, [], []
        writing = asyncio.Event()
        writing.set()

        async def writer(n: int) -> None:
            nonlocal made, dropped
            while writing.is_set():
                try:
                    response = await http.post(f"{urls['referral']}/referrals", json=a_referral_request(n))
                except httpx.TransportError:  # a kept-alive connection the server closed meanwhile: again
                    dropped += 1
                    continue
                if response.status_code == 201:
                    made += 1
                else:
                    refused.append(f"{response.status_code}: {response.text[:200]}")

        async def sampler() -> None:
            while writing.is_set():
                samples.append(await lags_now(http, urls))
                await asyncio.sleep(1.0)

        bench.say(f"sustained writes: {writers} clients for {bench.size.sustain_seconds:.0f} s, lags sampled each "
                  "second")
        started = time.perf_counter()
        running = [asyncio.create_task(writer(n)) for n in range(writers)] + [asyncio.create_task(sampler())]
        await asyncio.sleep(bench.size.sustain_seconds)
        writing.clear()
        await asyncio.gather(*running)
        sustained = rate(made, started)
    if refused:
        raise RuntimeError(f"{len(refused)} referrals were not made, e.g. {refused[0]}")
    worst = [max(sample.values(), default=0) for sample in samples]
    third = max(len(worst) // 3, 1)
    first, last = sum(worst[:third]) / third, sum(worst[-third:]) / third
    flat = last <= first * 1.25 + 25
    relay_worst = max((sample.get("relay referral", 0) for sample in samples), default=0)
    laggard = max(((lag, name) for sample in samples for name, lag in sample.items()), default=(0, "none"))
    return Figure(f"sustained writes, {writers} clients", sustained, "referrals/s", "postgres_commit",
                  "lag flat at the highest rate",
                  note=f"lag {'flat' if flat else 'GROWING'}: worst lag averaged {first:,.0f} in the first third of "
                       f"{len(worst)} samples and {last:,.0f} in the last; max relay lag {relay_worst:,}, max lag "
                       f"{laggard[0]:,} ({laggard[1]}); {dropped} connections dropped and retried")


async def lags_now(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, int]:
    """Every known lag of the running services, from their /health: the relay's and each projection's per
    source (an unknown lag is left out)."""
    lags: dict[str, int] = {}
    for service, url in urls.items():
        try:
            health = (await http.get(f"{url}/health", timeout=2)).json()
        except httpx.HTTPError:
            continue
        if isinstance(health.get("relay_lag"), int):
            lags[f"relay {service}"] = health["relay_lag"]
        for projection, sources in health.get("projection_lag", {}).items():
            for source, lag in sources.items():
                if isinstance(lag, int):
                    lags[f"{service} {projection} behind {source}"] = lag
    return lags


async def caught_up(http: httpx.AsyncClient, urls: dict[str, str], within: float) -> None:
    """Wait until every service reports every lag known and small."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            ready = [(await http.get(f"{url}/ready", timeout=2)).status_code == 200 for url in urls.values()]
        except httpx.HTTPError:
            ready = [False]
        lags = await lags_now(http, urls)
        if all(ready) or (lags and max(lags.values()) < 100):
            return
        await asyncio.sleep(0.5)  # polling the services' own figures


# ---- running and reporting -----------------------------------------------------------------------------


@dataclass
class Report:
    size: Size
    machine: dict[str, Any]
    baselines: dict[str, Reading]
    figures: dict[str, Figure]
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "size": asdict(self.size),
            "baselines": {name: asdict(reading) for name, reading in self.baselines.items()},
            "figures": {
                name: {**asdict(fig), "baseline": {"name": fig.baseline, **asdict(self.baselines[fig.baseline])},
                       "ratio": fig.value / self.baselines[fig.baseline].value}
                for name, fig in self.figures.items()},
            "not_measured": {name: asdict(missing) for name, missing in NOT_MEASURED.items()},
            **({"details": self.details} if self.details else {}),
        }

    def table(self) -> Table:
        sized = (f"{self.size.young_people:,} young people" if self.size.journeys_only
                 else f"{self.size.events:,} events, {self.size.requests:,} requests"
                 + (f", {self.size.young_people:,} young people" if self.size.young_people else ""))
        table = Table(title=f"casetrack bench ({sized}; {self.machine['cpus']} CPUs)")
        for column in ("figure", "value", "unit", "baseline", "ratio", "target"):
            table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
        for fig in self.figures.values():
            against = self.baselines[fig.baseline]
            table.add_row(fig.label, shown(fig.value), fig.unit, f"{against.label}: {shown(against.value)}",
                          f"{fig.value / against.value:.2f}", fig.target)
        for missing in NOT_MEASURED.values() if not self.size.journeys_only else ():
            table.add_row(missing.label, "-", missing.unit, "not measured yet", "-", missing.target)
        table.add_section()
        for reading in self.baselines.values():
            table.add_row(f"raw: {reading.label}", shown(reading.value), reading.unit, "", "", "")
        return table

    def detail_tables(self) -> list[Table]:
        tables = []
        for title, rows in self.details.items():
            table = Table(title=title)
            for column in rows[0] if rows else ():
                table.add_column(column, justify="left" if isinstance(rows[0][column], str) else "right")
            for row in rows:
                table.add_row(*(f"{value:,}" if isinstance(value, (int, float)) else str(value)
                                for value in row.values()))
            tables.append(table)
        return tables


def shown(value: float) -> str:
    """A figure in the table: whole, unless under 1 (a millisecond or less)."""
    return f"{value:,.2f}" if value < 1 else f"{value:,.0f}"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "processor": _cpu_model()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


async def measure(bench: Bench) -> Report:
    figures = {}
    if not bench.size.journeys_only:
        for name in BASELINES:
            await bench.baseline(name)
        for name, measurement in FIGURES.items():
            bench.say(f"figure: {name}")
            figures[name] = await measurement(bench)
    if bench.size.young_people:
        from shared.bench_journeys import journeys_figures

        bench.say(f"figures: the journeys read side at {bench.size.young_people:,} young people")
        figures.update(await journeys_figures(bench))
    return Report(bench.size, machine(), dict(bench.readings), figures, bench.details)


def run_bench(size: Size, console: Console | None = None) -> Report:
    """Start a nats-server and a PostgreSQL of the bench's own, measure everything on them, stop them."""
    say = (lambda line: console.log(line, highlight=False)) if console else (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="casetrack-bench-") as folder:
        root = Path(folder)
        nats_server = NatsServer(root / "nats", free_port())
        postgres = Postgres(root / "pg" / "data", free_port())
        bench = Bench(nats_server, postgres, root, size, say)
        try:
            say("starting nats-server and PostgreSQL")
            nats_server.start()
            postgres.start()
            return asyncio.run(measure(bench))
        finally:
            bench.stop()
            postgres.stop()
            nats_server.stop()
