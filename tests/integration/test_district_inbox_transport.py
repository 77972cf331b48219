"""The district inbox on real NATS and PostgreSQL: batches in, answers out, nothing lost or applied twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from eventsourcing.persistence import OperationalError

from services.referral.district_inbox import DistrictInbox, InboxTransport
from tests.integration.test_district_inbox import a_referral


class District:
    """A district system: publishes on its ingest subjects, hears its answers."""

    def __init__(self, nc, name: str):
        self.nc, self.js, self.name = nc, nc.jetstream(), name
        self.answers: asyncio.Queue = asyncio.Queue()

    async def open(self) -> District:
        async def arrive(msg):
            await self.answers.put((msg.subject.split(".")[1], json.loads(msg.data)))

        await self.nc.subscribe(f"casetrack.*.{self.name}", cb=arrive)
        await self.nc.flush()
        return self

    async def publish(self, kind: str, body: bytes, headers: dict | None = None) -> None:
        await self.js.publish(f"casetrack.ingest.{self.name}.{kind}", body, headers=headers)

    async def answered(self, count: int) -> list[tuple[str, dict]]:
        return [await asyncio.wait_for(self.answers.get(), timeout=20) for _ in range(count)]


@pytest.fixture
async def running_inbox(nats_client, referrals_store, schema):
    inbox = DistrictInbox(referrals_store, schema)
    await asyncio.to_thread(inbox.prepare)
    transport = InboxTransport(inbox, nats_client.jetstream(), batch_size=16, longest_pause_seconds=0.05)
    await transport.prepare()
    task = asyncio.create_task(transport.run())
    yield transport
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_message_too_deep_to_decode_is_rejected_and_ingest_carries_on_for_every_district(
        running_inbox, nats_client):
    preston, dover = await District(nats_client, "preston").open(), await District(nats_client, "dover").open()

    await preston.publish("referral", b"[" * 1000 + b"]" * 1000)
    await preston.publish("referral", b"\xff\xfe not utf-8")
    await preston.publish("referral", a_referral("PR-1"), headers={"Sent-By": "hub\x00\x01"})
    await dover.publish("referral", a_referral("DV-1"))
    await preston.publish("referral", a_referral("PR-2"))

    heard = await preston.answered(4)
    [(dover_answer, _)] = await dover.answered(1)

    assert [(answer, [r["type"] for r in body.get("reasons", [])]) for answer, body in heard] == [
        ("rejected", ["NotJson"]), ("rejected", ["NotJson"]), ("rejected", ["BadHeaders"]), ("accepted", [])]
    assert dover_answer == "accepted"


async def test_a_batch_keeps_each_districts_order_and_answers_every_message_once(running_inbox, nats_client):
    preston = await District(nats_client, "preston").open()
    refs = [f"PR-{uuid.uuid4().hex[:6]}" for _ in range(40)]
    for ref in refs:
        await preston.publish("referral", a_referral(ref))
        await preston.publish("closure", json.dumps({"district_ref": ref, "message_id": f"{ref}-c",
                                                     "occurred_at": "2026-11-03T09:00:00Z",
                                                     "reason": "returned_home"}).encode())

    heard = await preston.answered(80)

    assert {answer for answer, _ in heard} == {"accepted"}  # each closure came after its referral
    assert [body["message_id"] for _, body in heard] == [m for ref in refs for m in (f"{ref}-1", f"{ref}-c")]
    assert {body["duplicate"] for _, body in heard} == {False}
    assert await _erased(nats_client)


async def test_a_database_outage_is_waited_out_and_never_turns_a_message_into_a_rejection(
        running_inbox, nats_client, referrals_store, monkeypatch):
    preston = await District(nats_client, "preston").open()
    record, outage = referrals_store.record_changes, {"left": 25}

    def record_while_the_database_comes_back(*args, **kwargs):
        if outage["left"] > 0:
            outage["left"] -= 1
            raise OperationalError("connection refused")
        return record(*args, **kwargs)

    monkeypatch.setattr(referrals_store, "record_changes", record_while_the_database_comes_back)
    for n in range(3):
        await preston.publish("referral", a_referral(f"PR-OUT-{n}"))

    heard = await preston.answered(3)

    assert [answer for answer, _ in heard] == ["accepted"] * 3
    assert outage["left"] == 0 and {body["duplicate"] for _, body in heard} == {False}


async def test_the_answer_to_a_referral_says_whether_it_was_linked_or_flagged(running_inbox, nats_client):
    preston = await District(nats_client, "preston").open()
    person = {"given_name": f"Lin{uuid.uuid4().hex[:6]}", "family_name": "Known", "date_of_birth": "2006-01-01"}
    await preston.publish("referral", a_referral("PR-L1", young_person=person))
    await preston.publish("referral", a_referral("PR-L2", young_person=person))
    await preston.publish("referral", a_referral("PR-L3", young_person=person | {"date_of_birth": "2006-02-02"}))

    heard = [body for _, body in await preston.answered(3)]

    assert [(b["person_linked"], b["possible_match"]) for b in heard] == [(False, False), (True, False),
                                                                          (False, True)]


async def _erased(nats_client) -> bool:
    """The erasures land just after the answers: poll the stream (bounded) until it is empty."""
    async with asyncio.timeout(10):
        while (await nats_client.jetstream().stream_info("CASETRACK_INGEST")).state.messages:
            await asyncio.sleep(0.01)
    return True


async def test_erasing_a_message_already_erased_or_never_stored_is_done_not_retried_for_ever(
        running_inbox, nats_client):
    """A crash between erasing a message and acking it offers the message again; erasing it again must count as
    done (JetStream answers "sequence not found", or after its own restart "no message found", not NotFound)."""
    preston = await District(nats_client, "preston").open()
    await preston.publish("referral", a_referral("PR-ERASED"))
    await preston.answered(1)
    assert await _erased(nats_client)
    last = (await nats_client.jetstream().stream_info("CASETRACK_INGEST")).state.last_seq

    await asyncio.wait_for(running_inbox._erase([last, last + 1_000]), timeout=5)

