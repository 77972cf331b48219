"""The idempotent consumer applies each message once, in order, and dead-letters what it cannot apply."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from faststream.nats import NatsBroker

from shared.consumer import Delivery, EventCannotBeApplied, IdempotentConsumer, Verdict
from shared.contracts import Event
from shared.outbox import OutboxRelay
from tests.integration.builders import make_referral, referrals_store


class CountingProjection:
    """Counts how often each event was applied; can be told to fail."""

    def __init__(self, schema: str, failures: int = 0, refuse: bool = False):
        self.schema = schema
        self.failures = failures
        self.refuse = refuse

    async def apply(self, conn: asyncpg.Connection, event: Event, delivery: Delivery) -> None:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {self.schema}.applied (event_id uuid, sequence bigint)")
        await conn.execute(f"INSERT INTO {self.schema}.applied VALUES ($1, $2)", event.event_id, delivery.sequence)
        if self.refuse:
            raise EventCannotBeApplied("this projection refuses everything")
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the read model is briefly unavailable")


async def applied(pool: asyncpg.Pool, schema: str) -> list:
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.applied")
        return list(await conn.fetch(f"SELECT * FROM {schema}.applied ORDER BY sequence")) if exists else []


async def dead_letters(pool: asyncpg.Pool, schema: str) -> list:
    async with pool.acquire() as conn:
        return list(await conn.fetch(f"SELECT * FROM {schema}.dead_letters ORDER BY id"))


async def publish_referrals(postgres, schema, pool, nats_client, count: int) -> None:
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    for _ in range(count):
        await asyncio.to_thread(make_referral, store)
    relay = OutboxRelay("referral", store, nats_client, pool, schema)
    await relay.prepare()
    await relay.publish_pending()
    store.close()


async def run_consumer(consumer: IdempotentConsumer, nats_server, nats_client, until_position: int) -> bool:
    await consumer.prepare(nats_client.jetstream())
    broker = NatsBroker(nats_server.url)
    consumer.subscribe(broker)
    await broker.start()
    try:
        return await consumer.wait_for(until_position, timeout=15)
    finally:
        await broker.stop()


def delivery(sequence: int, num_delivered: int = 1) -> Delivery:
    return Delivery("CASETRACK_REFERRAL", sequence, sequence, "casetrack.referral.preston.ReferralMade", num_delivered)


async def test_every_event_on_the_stream_is_applied_once_in_order(postgres, schema, pool, nats_server, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 5)
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)

    assert await run_consumer(consumer, nats_server, nats_client, until_position=5)

    assert [row["sequence"] for row in await applied(pool, schema)] == [1, 2, 3, 4, 5]
    assert await consumer.lag() == 0


async def test_a_redelivered_message_is_recognised_and_not_applied_twice(postgres, schema, pool, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 1)
    message = await nats_client.jetstream().get_msg("CASETRACK_REFERRAL", 1)
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)
    await consumer.prepare(nats_client.jetstream())

    first = await consumer.receive(delivery(1), message.data, dict(message.headers))
    again = await consumer.receive(delivery(1, num_delivered=2), message.data, dict(message.headers))

    assert (first, again) == (Verdict.ACK, Verdict.ACK)
    assert len(await applied(pool, schema)) == 1


async def test_a_restarted_consumer_carries_on_from_its_recorded_position(
        postgres, schema, pool, nats_server, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 2)
    first = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)
    assert await run_consumer(first, nats_server, nats_client, until_position=2)
    await publish_referrals(postgres, schema, pool, nats_client, 1)

    restarted = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)
    assert await run_consumer(restarted, nats_server, nats_client, until_position=3)

    assert [row["sequence"] for row in await applied(pool, schema)] == [1, 2, 3]


async def test_a_failing_effect_is_retried_and_its_partial_write_rolled_back(
        postgres, schema, pool, nats_server, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 2)
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema, failures=2), pool, schema)

    assert await run_consumer(consumer, nats_server, nats_client, until_position=2)

    assert [row["sequence"] for row in await applied(pool, schema)] == [1, 2]
    assert await dead_letters(pool, schema) == []


async def test_an_effect_that_keeps_failing_is_dead_lettered_after_max_deliver_and_the_consumer_carries_on(
        postgres, schema, pool, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 1)
    message = await nats_client.jetstream().get_msg("CASETRACK_REFERRAL", 1)
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema, failures=99), pool, schema,
                                  max_deliver=3)
    await consumer.prepare(nats_client.jetstream())

    verdicts = [await consumer.receive(delivery(1, n), message.data, dict(message.headers)) for n in (1, 2, 3)]

    assert verdicts == [Verdict.NAK, Verdict.NAK, Verdict.ACK]
    [letter] = await dead_letters(pool, schema)
    assert "failed 3 times" in letter["reason"] and "ConnectionError" in letter["reason"]
    assert letter["attempts"] == 3 and letter["sequence"] == 1
    assert await applied(pool, schema) == []  # every failed attempt was rolled back
    assert consumer.sequence == 1


async def test_an_unreadable_message_is_dead_lettered_with_its_reason_and_the_next_one_applied(
        postgres, schema, pool, nats_server, nats_client):
    js = nats_client.jetstream()
    await js.publish("casetrack.referral.preston.ReferralMade", b'{"event_type": "ReferralMade", "district": 7}')
    await publish_referrals(postgres, schema, pool, nats_client, 1)  # stored at position 1, stream sequence 2
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)

    assert await run_consumer(consumer, nats_server, nats_client, until_position=1)

    assert [row["sequence"] for row in await applied(pool, schema)] == [2]
    [letter] = await dead_letters(pool, schema)
    assert letter["sequence"] == 1 and letter["reason"].startswith("unreadable event")
    assert "district" in letter["reason"]
    assert json.loads(bytes(letter["body"]))["district"] == 7


async def test_an_event_the_projection_refuses_is_dead_lettered_at_once(postgres, schema, pool, nats_client):
    await publish_referrals(postgres, schema, pool, nats_client, 1)
    message = await nats_client.jetstream().get_msg("CASETRACK_REFERRAL", 1)
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema, refuse=True), pool, schema)
    await consumer.prepare(nats_client.jetstream())

    assert await consumer.receive(delivery(1), message.data, dict(message.headers)) is Verdict.ACK

    [letter] = await dead_letters(pool, schema)
    assert letter["reason"] == "cannot be applied: this projection refuses everything"
    assert await applied(pool, schema) == []


async def test_wait_for_returns_false_when_the_position_is_not_reached_in_time(postgres, schema, pool, nats_client):
    consumer = IdempotentConsumer("journeys", "referral", CountingProjection(schema), pool, schema)
    await consumer.prepare(nats_client.jetstream())
    assert await consumer.wait_for(3, timeout=0.05) is False
