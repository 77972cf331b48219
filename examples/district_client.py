"""A district housing system talking to casetrack over NATS, with plain nats-py (no casetrack code).

    pip install nats-py
    casetrack credentials district preston --file preston.json    (casetrack's operator issues these)
    python examples/district_client.py --credentials preston.json

It sends a referral with two mistakes, reads casetrack's rejection and its reasons, resends it
corrected, sends the same message again (applied once), then an assessment on the same case.
It prints each answer as a JSON line and exits 0 if every answer was the one expected.
See docs/district-integration.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def main(credentials: dict, server: str | None) -> int:
    """`credentials`: the district's NATS user, password and servers (and `ca_file` for TLS), as issued."""
    district = credentials["user"].removeprefix("district-")
    tls = ssl.create_default_context(cafile=credentials["ca_file"]) if credentials.get("ca_file") else None
    nc = await nats.connect(servers=[server] if server else credentials["servers"], user=credentials["user"],
                            password=credentials["password"], tls=tls,
                            # replies (acks, pulled answers) come to an inbox only this district may read
                            inbox_prefix=f"_INBOX_{credentials['user']}")
    js = nc.jetstream()
    answers = Answers(js, district)
    await answers.open()

    case_ref = f"EX-{uuid.uuid4().hex[:8]}"  # the district system's own case reference
    today = datetime.now(UTC)
    referral = {
        "district_ref": case_ref,
        "message_id": f"{case_ref}-referral",
        "occurred_at": (today - timedelta(days=1)).isoformat(),
        "gateway": "district_housing_options",
        "cohort": "homeless_16_17",
        "young_person": {"given_name": "Casey", "family_name": f"Example{uuid.uuid4().hex[:6]}",
                         "date_of_birth": (date.today() - timedelta(days=17 * 365 + 30)).isoformat()},
        "presenting_reason": "parental_eviction",
        "flags": ["neet"],
    }
    mistaken = {**referral, "cohort": "teenager", "young_person": {**referral["young_person"], "family_name": ""}}
    ok = True

    rejected = await answers.after_publishing(f"casetrack.ingest.{district}.referral", mistaken)
    ok &= rejected["answer"] == "rejected" and len(rejected["reasons"]) == 2

    accepted = await answers.after_publishing(f"casetrack.ingest.{district}.referral", referral)
    ok &= accepted["answer"] == "accepted" and not accepted["duplicate"]

    repeated = await answers.after_publishing(f"casetrack.ingest.{district}.referral", referral)
    ok &= repeated["answer"] == "accepted" and repeated["duplicate"] and repeated["case_id"] == accepted["case_id"]

    assessment = {"district_ref": case_ref, "message_id": f"{case_ref}-assessment",
                  "occurred_at": today.isoformat(), "support_needs": ["managing_money"],
                  "support_level": "medium", "risk": "low", "priority_band": "B"}
    assessed = await answers.after_publishing(f"casetrack.ingest.{district}.assessment", assessment)
    ok &= assessed["answer"] == "accepted" and assessed["case_id"] == accepted["case_id"]

    await nc.drain()
    return 0 if ok else 1


class Answers:
    """casetrack's answers to this district, from durable pull consumers (configured as
    docs/district-integration.md says) so none is missed: a restarted client carries on where it stopped.
    NATS lets a district have one consumer on each answer stream, named after the district and filtered on
    its own answer subject."""

    def __init__(self, js, district: str):
        self.js = js
        self.district = district
        self.consumers: list[tuple[str, object]] = []

    async def open(self) -> None:
        for answer, stream in (("accepted", "CASETRACK_ACCEPTED"), ("rejected", "CASETRACK_REJECTED")):
            consumer = await self.js.pull_subscribe(
                f"casetrack.{answer}.{self.district}", durable=self.district, stream=stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1,
                                      deliver_policy=DeliverPolicy.ALL))
            self.consumers.append((answer, consumer))

    async def after_publishing(self, subject: str, message: dict, timeout: float = 10.0) -> dict:
        """Publish a message, then wait for casetrack's answer to it (matched by message_id)."""
        await self.js.publish(subject, json.dumps(message).encode())
        async with asyncio.timeout(timeout):
            while True:
                for answer, consumer in self.consumers:
                    try:
                        arrived = await consumer.fetch(10, timeout=0.5)
                    except TimeoutError:  # nats-py's own, or asyncio's: nothing yet
                        continue
                    for msg in arrived:
                        body = json.loads(msg.data)
                        await msg.ack()  # a real system records the answer (by message_id) before acking it
                        if body.get("message_id") == message["message_id"]:
                            body["answer"] = answer
                            print(json.dumps(body), flush=True)
                            return body


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", required=True, help="the district's credentials file (JSON)")
    parser.add_argument("--nats", default=None, help="a NATS server, instead of those the file names")
    arguments = parser.parse_args()
    with open(arguments.credentials) as file:
        sys.exit(asyncio.run(main(json.load(file), arguments.nats)))
