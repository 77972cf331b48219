"""What the projection runner tests share: referral events published on the real stream, and a projection
that counts what it applied (and can be told to refuse an event or to stop half-way through a batch)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import nats

from shared.contracts.referral import ReferralMade
from shared.contracts.vocabulary import Cohort, Gateway, LegalStatus, PresentingReason
from shared.projections import EventCannotBeApplied, Projection, Recorded, event_types
from shared.subjects import POSITION_HEADER


def a_referral(district: str = "preston") -> ReferralMade:
    case_id = uuid4()
    return ReferralMade(aggregate_id=case_id, aggregate_version=1, case_id=case_id, person_ref=uuid4(),
                        district=district, occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
                        gateway=Gateway.hub, cohort=Cohort.care_leaver, age_at_event=19,
                        legal_status=LegalStatus.former_relevant,
                        presenting_reason=PresentingReason.leaving_care)


async def publish(js: nats.js.JetStreamContext, events: Sequence[ReferralMade], first_position: int = 1,
                  headers: dict[str, str] | None = None) -> list[UUID]:
    """Publish referral events as the relay does: each with its store position in a header."""
    for position, event in enumerate(events, start=first_position):
        await js.publish(f"casetrack.referral.{event.district}.ReferralMade", event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": str(event.event_id), POSITION_HEADER: str(position)}
                         | (headers or {}))
    return [event.case_id for event in events]


async def publish_raw(js, body: bytes, position: str, subject: str = "casetrack.referral.preston.ReferralMade"):
    await js.publish(subject, body, headers={POSITION_HEADER: position})


class CountedReferrals(Projection):
    """Counts each referral it applied; refuses the cases in `refuse`; waits at `hold_at` until released."""

    name = "counted"
    follows = {"referral": event_types([ReferralMade])}
    tables = ["CREATE TABLE IF NOT EXISTS counted (case_id uuid NOT NULL, sequence bigint NOT NULL)"]

    def __init__(self, refuse: Sequence[UUID] = (), hold_at: UUID | None = None):
        self.refuse = set(refuse)
        self.hold_at = hold_at
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        await conn.execute("INSERT INTO counted VALUES ($1, $2)", recorded.event.case_id, recorded.sequence)
        if recorded.event.case_id in self.refuse:
            raise EventCannotBeApplied("this case cannot be counted")
        if recorded.event.case_id == self.hold_at:
            self.hold_at = None
            self.held.set()
            await self.release.wait()


async def counted(pool: asyncpg.Pool, schema: str) -> list[UUID]:
    async with pool.acquire() as conn:
        return [row["case_id"] for row in await conn.fetch(f"SELECT case_id FROM {schema}.counted ORDER BY sequence")]


async def dead_letters(pool: asyncpg.Pool, schema: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(f"SELECT * FROM {schema}.dead_letters ORDER BY sequence"))
