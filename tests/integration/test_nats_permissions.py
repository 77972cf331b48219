"""The embedded nats-server refuses what a user's permissions do not allow: a district publishes only on its own
ingest subjects and reads only its own answers; no district or service manages streams or others' consumers;
nobody but the referral service answers a district."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from services.referral.district_inbox.transport import answer_message_id
from shared.devservers import NatsServer, free_port
from shared.devservers.nats_users import (
    admin_credentials,
    embedded_authorization,
    issue_district_credentials,
    kept_credentials,
)
from shared.nats_access import DISTRICT_INBOX_CONSUMER, Credentials, service_user
from shared.streams import create_streams

REFUSAL_SECONDS = 1.0


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with the users and permissions `casetrack up` gives it, districts preston and wyre issued,
    and the streams made by the administrator."""
    for district in ("preston", "wyre"):
        issue_district_credentials(tmp_path, district)
    server = NatsServer(tmp_path / "nats", free_port(), authorization=lambda: embedded_authorization(tmp_path))
    server.start()
    asyncio.run(create_streams([server.url], 1, **admin_credentials(tmp_path).connect_options()))
    yield server
    server.stop()


class Connected:
    """A connection as one user, keeping the errors the server sends it (a permissions violation is one)."""

    def __init__(self, nc: nats.NATS, errors: list[Exception]):
        self.nc, self.js, self.errors = nc, nc.jetstream(), errors

    def refused(self, subject: str) -> bool:
        return any("permissions violation" in str(e).lower() and subject.lower() in str(e).lower()
                   for e in self.errors)

    async def until_refused(self, subject: str) -> bool:
        await self.nc.flush()
        deadline = asyncio.get_running_loop().time() + REFUSAL_SECONDS
        while not self.refused(subject) and asyncio.get_running_loop().time() < deadline:
            await self.nc.flush()  # a round trip: the server's -ERR comes before its PONG
        return self.refused(subject)


@pytest.fixture
async def connect(secured_nats: NatsServer, tmp_path: Path) -> AsyncIterator:
    opened: list[nats.NATS] = []

    async def as_user(user: str) -> Connected:
        errors: list[Exception] = []

        async def keep(error: Exception) -> None:
            errors.append(error)

        credentials: Credentials = kept_credentials(tmp_path, user)
        nc = await nats.connect(servers=[secured_nats.url], error_cb=keep, max_reconnect_attempts=0,
                                **credentials.connect_options())
        opened.append(nc)
        return Connected(nc, errors)

    yield as_user
    for nc in opened:
        await nc.close()


async def messages_in(connect, stream: str) -> int:
    admin = await connect("admin")
    return (await admin.js.stream_info(stream)).state.messages


async def test_a_district_publishes_on_its_own_ingest_subjects(connect):
    preston = await connect("district-preston")

    ack = await preston.js.publish("casetrack.ingest.preston.referral", b"{}")

    assert ack.stream == "CASETRACK_INGEST"
    assert not preston.errors


async def test_a_district_publishing_on_another_districts_ingest_subject_is_refused_by_the_server(connect):
    preston = await connect("district-preston")

    await preston.nc.publish("casetrack.ingest.wyre.referral", b"{}")

    assert await preston.until_refused("casetrack.ingest.wyre.referral")
    assert await messages_in(connect, "CASETRACK_INGEST") == 0


async def test_a_district_publishing_a_service_event_is_refused(connect):
    preston = await connect("district-preston")

    await preston.nc.publish("casetrack.referral.preston.ReferralMade", b"{}")

    assert await preston.until_refused("casetrack.referral.preston.ReferralMade")
    assert await messages_in(connect, "CASETRACK_REFERRAL") == 0


@pytest.mark.parametrize("subject", ["casetrack.>", "casetrack.accepted.wyre", "casetrack.rejected.wyre",
                                     "casetrack.ingest.wyre.referral", "_INBOX.>", "_INBOX_district-wyre.>"])
async def test_a_district_subscribing_beyond_its_own_answers_is_refused(connect, subject):
    preston = await connect("district-preston")

    await preston.nc.subscribe(subject)

    assert await preston.until_refused(subject)


async def test_a_district_reads_its_own_answers_through_a_consumer_named_after_it_and_no_one_elses(connect):
    preston = await connect("district-preston")
    await preston.nc.subscribe("casetrack.accepted.preston")
    own = await preston.js.pull_subscribe("casetrack.accepted.preston", durable="preston", stream="CASETRACK_ACCEPTED")
    await own.unsubscribe()

    with pytest.raises(TimeoutError):  # the request never reaches JetStream: no answer comes
        await preston.js.add_consumer("CASETRACK_ACCEPTED", ConsumerConfig(
            name="preston", durable_name="preston", filter_subject="casetrack.accepted.wyre"), timeout=REFUSAL_SECONDS)
    assert await preston.until_refused("$JS.API.CONSUMER.CREATE.CASETRACK_ACCEPTED.preston.casetrack.accepted.wyre")
    assert not preston.refused("casetrack.accepted.preston")


@pytest.mark.parametrize("user", ["district-preston", "referral", "journeys"])
async def test_neither_a_district_nor_a_service_may_delete_a_stream(connect, user):
    someone = await connect(user)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(someone.js.delete_stream("CASETRACK_REFERRAL"), REFUSAL_SECONDS)

    assert await someone.until_refused("$JS.API.STREAM.DELETE.CASETRACK_REFERRAL")
    assert (await (await connect("admin")).js.stream_info("CASETRACK_REFERRAL")).config.name == "CASETRACK_REFERRAL"


@pytest.mark.parametrize("user", ["district-preston", "journeys", "placement"])
async def test_only_the_referral_service_touches_the_district_inbox_consumer(connect, user):
    referral = await connect(service_user("referral"))
    await referral.js.add_consumer("CASETRACK_INGEST", ConsumerConfig(
        durable_name=DISTRICT_INBOX_CONSUMER, filter_subject="casetrack.ingest.>"))
    someone = await connect(user)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(someone.js.delete_consumer("CASETRACK_INGEST", DISTRICT_INBOX_CONSUMER),
                               REFUSAL_SECONDS)

    assert await someone.until_refused(f"$JS.API.CONSUMER.DELETE.CASETRACK_INGEST.{DISTRICT_INBOX_CONSUMER}")
    assert (await referral.js.consumer_info("CASETRACK_INGEST", DISTRICT_INBOX_CONSUMER)).name == \
        DISTRICT_INBOX_CONSUMER


async def test_a_service_publishes_only_its_own_events_and_creates_no_stream(connect):
    journeys = await connect("journeys")

    await journeys.nc.publish("casetrack.referral.preston.ReferralMade", b"{}")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(journeys.js.add_stream(name="MINE", subjects=["mine.>"]), REFUSAL_SECONDS)

    assert await journeys.until_refused("casetrack.referral.preston.ReferralMade")
    assert await journeys.until_refused("$JS.API.STREAM.CREATE.MINE")


async def test_a_forged_answer_published_ahead_of_the_real_one_is_refused(connect):
    preston = await connect("district-preston")
    forged = json.dumps({"message_id": "PR-1-1", "case_id": "forged", "duplicate": False}).encode()

    await preston.nc.publish("casetrack.accepted.preston", forged, headers={"Nats-Msg-Id": "answer-to-ingest-1"})

    assert await preston.until_refused("casetrack.accepted.preston")
    assert await messages_in(connect, "CASETRACK_ACCEPTED") == 0
    referral = await connect("referral")
    ack = await referral.js.publish("casetrack.accepted.preston", b"{}",
                                    headers={"Nats-Msg-Id": answer_message_id(b"k" * 32, 1)})
    assert not ack.duplicate


def test_an_answers_message_id_cannot_be_told_from_the_district_message():
    assert answer_message_id(b"k" * 32, 1) != answer_message_id(b"j" * 32, 1)
    assert answer_message_id(b"k" * 32, 1) != answer_message_id(b"k" * 32, 2)
    assert "1" != answer_message_id(b"k" * 32, 1).removeprefix("answer-")
