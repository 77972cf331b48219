"""The idempotent consumer's subscription, driven through FastStream's in-memory TestNatsBroker."""

from __future__ import annotations

from faststream.nats import NatsBroker, TestNatsBroker

from shared.consumer import Delivery, IdempotentConsumer, Verdict

JETSTREAM_REPLY = "$JS.ACK.CASETRACK_REFERRAL.journeys-referral.{delivered}.{sequence}.{sequence}.1700000000000000000.0"


class MustNotApply:
    async def apply(self, *_):
        raise AssertionError("an event already applied was applied again")


def a_consumer_that_has_applied(sequence: int) -> tuple[IdempotentConsumer, list[tuple[Delivery, Verdict]]]:
    consumer = IdempotentConsumer("journeys", "referral", MustNotApply(), pool=None, schema="journeys")
    consumer.sequence = sequence
    verdicts: list[tuple[Delivery, Verdict]] = []
    receive = consumer.receive

    async def recording(delivery: Delivery, body: bytes, headers: dict[str, str]) -> Verdict:
        verdict = await receive(delivery, body, headers)
        verdicts.append((delivery, verdict))
        return verdict

    consumer.receive = recording  # type: ignore[method-assign]
    return consumer, verdicts


async def test_a_redelivered_message_already_applied_is_acknowledged_without_applying_it_again():
    broker = NatsBroker()
    consumer, verdicts = a_consumer_that_has_applied(7)
    consumer.subscribe(broker)

    async with TestNatsBroker(broker) as test_broker:
        await test_broker.publish(
            b"{}", "casetrack.referral.preston.ReferralMade", stream="CASETRACK_REFERRAL",
            reply_to=JETSTREAM_REPLY.format(delivered=2, sequence=7), headers={"Casetrack-Position": "7"})

    [(delivery, verdict)] = verdicts
    assert verdict is Verdict.ACK
    assert (delivery.stream, delivery.sequence, delivery.num_delivered, delivery.source_position) == (
        "CASETRACK_REFERRAL", 7, 2, 7)


async def test_the_consumer_listens_to_every_event_of_its_source_service_only():
    broker = NatsBroker()
    consumer, verdicts = a_consumer_that_has_applied(100)
    consumer.subscribe(broker)

    async with TestNatsBroker(broker) as test_broker:
        for subject in ("casetrack.referral.dover.CaseClosed", "casetrack.placement.dover.PlacementStarted"):
            await test_broker.publish(b"{}", subject, stream="CASETRACK_REFERRAL",
                                      reply_to=JETSTREAM_REPLY.format(delivered=1, sequence=3))

    assert [delivery.subject for delivery, _ in verdicts] == ["casetrack.referral.dover.CaseClosed"]
