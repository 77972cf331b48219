"""The outbox relay publishes every stored event to JetStream once, in store order."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.contracts import EventContext
from shared.districts import district_register
from shared.outbox import OutboxRelay
from shared.subjects import POSITION_HEADER
from tests.integration.builders import make_referral, referrals_store
from tests.unit.builders import REFERRAL_DAY, a_case


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


async def test_a_message_on_the_stream_claiming_a_position_the_store_does_not_hold_there_does_not_make_the_relay_skip(
        postgres, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    js = nats_client.jetstream()
    await js.publish("casetrack.referral.preston.ReferralMade", b'{"event_type": "ReferralMade"}',
                     headers={"Nats-Msg-Id": "not-an-event-of-this-store", POSITION_HEADER: "1000"})
    for _ in range(3):
        await asyncio.to_thread(make_referral, store)

    relay = OutboxRelay("referral", store, nats_client, pool, schema)
    await relay.prepare()

    assert relay.position == 0  # not 1000: the resume position comes from the relay's own store
    assert await relay.publish_pending() == 3
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


def record_backlog(store, events: int) -> int:
    """Record `events` referrals, a thousand a transaction; returns the last position."""
    position = 0
    for first in range(0, events, 1_000):
        districts = [district.code for district in district_register().on(REFERRAL_DAY)]
        cases = [a_case(district=districts[n % len(districts)]) for n in range(first, min(first + 1_000, events))]
        position = store.record(EventContext(actor="test"), *cases)
    return position


def stored_event_ids(store) -> list[str]:
    notifications = store.recorder.select_notifications(1, 1_000_000)
    return [json.loads(n.state)["event_id"] for n in notifications]


class AckLost:
    """JetStream as seen by a relay whose ack for the `nth` publish is lost: the message is stored, its ack fails."""

    def __init__(self, js, nth: int):
        self.js, self.nth, self.published = js, nth, 0

    def __getattr__(self, name):
        return getattr(self.js, name)

    async def publish_async(self, *args, **kwargs) -> asyncio.Future:
        ack = await self.js.publish_async(*args, **kwargs)
        self.published += 1
        if self.published != self.nth:
            return ack
        lost: asyncio.Future = asyncio.get_running_loop().create_future()
        ack.add_done_callback(lambda _: lost.set_exception(TimeoutError("ack lost")))
        return lost


async def test_a_batch_whose_ack_is_lost_is_published_again_and_the_stream_holds_each_event_once_in_order(
        postgres, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    last = await asyncio.to_thread(record_backlog, store, 50)
    relay = OutboxRelay("referral", store, nats_client, pool, schema, batch_size=50)
    await relay.prepare()
    relay.js = AckLost(relay.js, nth=20)

    with pytest.raises(TimeoutError):
        await relay.publish_pending()
    assert relay.position == 0
    assert await relay.publish_pending() == 50

    messages = await stream_messages(nats_client.jetstream())
    assert [m.headers["Nats-Msg-Id"] for m in messages] == await asyncio.to_thread(stored_event_ids, store)
    assert [int(m.headers[POSITION_HEADER]) for m in messages] == list(range(1, last + 1))
    async with pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT position FROM {schema}.relay_position") == last
    store.close()


RELAY_PROCESS = """
import asyncio, sys
import asyncpg, nats
from shared.outbox import OutboxRelay
from tests.integration.builders import referrals_store

async def main(nats_url, database_url, schema, batch_size):
    store = referrals_store(database_url, schema)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    relay = OutboxRelay("referral", store, await nats.connect(nats_url), pool, schema, batch_size=int(batch_size))
    await relay.prepare()
    await relay.run()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_relay_killed_mid_batch_and_started_again_loses_and_doubles_nothing_on_the_stream(
        postgres, nats_server, schema, pool, nats_client):
    store = await asyncio.to_thread(referrals_store, postgres.url, schema)
    backlog = 5_000
    last = await asyncio.to_thread(record_backlog, store, backlog)
    js = nats_client.jetstream()
    relay = subprocess.Popen([sys.executable, "-c", RELAY_PROCESS, nats_server.url, postgres.url, schema, str(backlog)],
                             cwd=Path(__file__).parents[2])
    try:
        while (await js.stream_info("CASETRACK_REFERRAL")).state.messages == 0:  # publishing has begun
            assert relay.poll() is None, "the relay process stopped by itself"
            await asyncio.sleep(0.005)
        relay.send_signal(signal.SIGKILL)
        relay.wait()
    finally:
        relay.kill()
    async with pool.acquire() as conn:
        recorded = await conn.fetchval(f"SELECT position FROM {schema}.relay_position") or 0
    on_stream = (await js.stream_info("CASETRACK_REFERRAL")).state.messages
    assert recorded < on_stream < backlog  # killed with part of its batch published and none of it recorded

    restarted = OutboxRelay("referral", store, nats_client, pool, schema)
    await restarted.prepare()
    while restarted.position < last:
        await restarted.publish_pending()

    messages = await stream_messages(js)
    assert len(messages) == backlog
    assert [m.headers["Nats-Msg-Id"] for m in messages] == await asyncio.to_thread(stored_event_ids, store)
    assert [int(m.headers[POSITION_HEADER]) for m in messages] == list(range(1, last + 1))
    store.close()
