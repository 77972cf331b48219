"""The outbox relay publishes every stored event to JetStream once, in store order."""

from __future__ import annotations

import asyncio
import json

from shared.outbox import OutboxRelay
from shared.subjects import POSITION_HEADER
from tests.integration.builders import make_referral, referrals_store


async def stream_messages(js, stream: str = "CASETRACK_REFERRAL") -> list:
    info = await js.stream_info(stream)
    return [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)] \
        if info.state.messages else []


async def test_every_stored_event_is_published_in_store_order_with_its_event_id(postgres, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    made = [await asyncio.to_thread(make_referral, store, district) for district in ("preston", "dover", "wyre")]
    relay = OutboxRelay("referral", store, nats_client, pool, schema)
    await relay.prepare()

    assert await relay.publish_pending() == 3

    messages = await stream_messages(nats_client.jetstream())
    events = [json.loads(m.data) for m in messages]
    assert [e["case_id"] for e in events] == [str(case_id) for case_id, _, _ in made]
    assert [m.subject for m in messages] == [
        "casetrack.referral.preston.ReferralMade", "casetrack.referral.dover.ReferralMade",
        "casetrack.referral.wyre.ReferralMade"]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [e["event_id"] for e in events]
    assert [int(m.headers[POSITION_HEADER]) for m in messages] == [p for _, _, p in made]
    assert await relay.lag() == 0
    store.close()


async def test_a_restarted_relay_publishes_nothing_twice_even_if_it_died_before_recording_its_position(
        postgres, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    for _ in range(2):
        await asyncio.to_thread(make_referral, store)
    first = OutboxRelay("referral", store, nats_client, pool, schema)
    await first.prepare()
    await first.publish_pending()
    async with pool.acquire() as conn:  # as if the process died between publishing and recording
        await conn.execute(f"DELETE FROM {schema}.relay_position")
    await asyncio.to_thread(make_referral, store)

    restarted = OutboxRelay("referral", store, nats_client, pool, schema)
    await restarted.prepare()
    assert await restarted.publish_pending() == 1

    messages = await stream_messages(nats_client.jetstream())
    assert len(messages) == 3
    assert len({m.headers["Nats-Msg-Id"] for m in messages}) == 3
    async with pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT position FROM {schema}.relay_position") == 3
    store.close()


async def test_a_nudged_relay_publishes_a_new_event_without_waiting_for_its_poll(
        postgres, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    relay = OutboxRelay("referral", store, nats_client, pool, schema, poll_seconds=3600)
    await relay.prepare()
    running = asyncio.create_task(relay.run())
    published = await nats_client.jetstream().subscribe("casetrack.referral.>", ordered_consumer=True)
    try:
        case_id, _, _ = await asyncio.to_thread(make_referral, store)
        relay.nudge()
        message = await published.next_msg(timeout=5)
        assert json.loads(message.data)["case_id"] == str(case_id)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        store.close()
