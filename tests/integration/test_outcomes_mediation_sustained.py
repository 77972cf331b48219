"""The mediation_sustained projection on real PostgreSQL: of the young people who went home after mediation, how
many were still at home at the 3 and the 6 month follow-up, pooled, with a corrected follow-up replacing the first."""

from __future__ import annotations

import json
from datetime import date

import asyncpg
import pydantic
import pytest

from services.outcomes.projections.mediation_sustained import (
    MediationSustained,
    MediationSustainedProjection,
    mediation_sustained,
)
from shared.contracts import Event
from shared.contracts.vocabulary import MediationOutcome
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import ACase, on

FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2025, 12, 31)
HOME = MediationOutcome.returned_home


class Projected:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool, self.schema, self.sequence = pool, schema, 0
        self.projection = MediationSustainedProjection()

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            batch = []
            for event in events:
                self.sequence += 1
                batch.append(Recorded(event, "CASETRACK_REFERRAL", self.sequence, self.sequence))
            await self.projection.apply(conn, batch)

    async def sustained(self, district: str | None = None, first_day: date = FIRST_DAY,
                        last_day: date = LAST_DAY) -> MediationSustained:
        async with self.pool.acquire() as conn:
            return await mediation_sustained(conn, first_day=first_day, last_day=last_day, district=district,
                                             schema=self.schema)


@pytest.fixture
async def projected(pool: asyncpg.Pool, schema: str) -> Projected:
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, MediationSustainedProjection())
    return Projected(pool, schema)


def counts(sustained: MediationSustained) -> list[tuple]:
    return [(at.months_after, at.followed_up, at.still_at_home, at.still_at_home_percent, at.not_yet_followed_up)
            for at in sustained.at]


async def test_still_at_home_at_3_and_6_months_pooled_with_a_corrected_follow_up(projected):
    lasted, broke_down, not_yet, corrected, last_year, wider_family = (ACase() for _ in range(6))
    dover = ACase(district="dover")
    wrong = corrected.followed_up(on(date(2025, 8, 1)), 2, 3, False)
    right = corrected.followed_up(on(date(2025, 8, 2)), 2, 3, True)
    events = [
        lasted.mediation_concluded(on(date(2025, 2, 1)), 1, HOME),
        lasted.followed_up(on(date(2025, 5, 1)), 1, 3, True), lasted.followed_up(on(date(2025, 8, 1)), 1, 6, True),
        broke_down.mediation_concluded(on(date(2025, 3, 1)), 1, HOME),
        broke_down.followed_up(on(date(2025, 6, 1)), 1, 3, False),
        broke_down.followed_up(on(date(2025, 9, 1)), 1, 6, False),
        not_yet.mediation_concluded(on(date(2025, 4, 1)), 1, HOME),
        not_yet.followed_up(on(date(2025, 7, 1)), 1, 3, True),
        corrected.mediation_concluded(on(date(2025, 3, 1)), 1, MediationOutcome.not_possible),
        corrected.mediation_concluded(on(date(2025, 5, 1)), 2, HOME), wrong, right,
        corrected.followed_up(on(date(2025, 11, 1)), 2, 6, True),
        last_year.mediation_concluded(on(date(2024, 6, 1)), 1, HOME),
        last_year.followed_up(on(date(2025, 9, 1)), 1, 3, False),
        wider_family.mediation_concluded(on(date(2025, 2, 1)), 1, MediationOutcome.stayed_with_wider_family_or_friends),
        dover.mediation_concluded(on(date(2025, 6, 1)), 1, HOME), dover.followed_up(on(date(2025, 9, 1)), 1, 3, True),
    ]
    await projected.apply(*events)

    preston = await projected.sustained(district="preston")
    assert preston.returned_home == 4
    assert counts(preston) == [(3, 4, 3, 75.0, 0), (6, 3, 2, 66.7, 1)]
    at_3 = set(preston.at[0].follow_up_event_ids)
    assert right.event_id in at_3 and wrong.event_id not in at_3 and len(at_3) == 4

    everywhere = await projected.sustained()
    assert everywhere.returned_home == 5
    assert counts(everywhere) == [(3, 5, 4, 80.0, 0), (6, 3, 2, 66.7, 2)]  # pooled: 4 of 5, not a mean of districts

    await projected.apply(*events)  # the same events again
    await projected.apply(wrong)  # the first follow-up once more, after its correction
    assert await projected.sustained(district="preston") == preston
    assert await projected.sustained() == everywhere


async def test_a_follow_up_applied_before_its_return_home_is_kept(projected):
    case = ACase()
    concluded = case.mediation_concluded(on(date(2025, 2, 1)), 1, HOME)
    followed_up = case.followed_up(on(date(2025, 5, 1)), 1, 3, True)
    await projected.apply(followed_up)
    assert (await projected.sustained()).returned_home == 0

    await projected.apply(concluded)

    sustained = await projected.sustained()
    assert counts(sustained) == [(3, 1, 1, 100.0, 0), (6, 0, 0, None, 1)]
    assert sustained.at[0].follow_up_event_ids == [followed_up.event_id]


async def test_the_period_is_of_the_return_home_and_the_result_reads_as_json(projected):
    case = ACase()
    await projected.apply(case.mediation_concluded(on(date(2025, 12, 31), 23), 1, HOME),
                          case.followed_up(on(date(2026, 3, 31)), 1, 3, False))

    assert (await projected.sustained(last_day=date(2025, 12, 30))).returned_home == 0
    sustained = await projected.sustained()
    assert counts(sustained) == [(3, 1, 0, 0.0, 0), (6, 0, 0, None, 1)]
    as_json = json.loads(pydantic.TypeAdapter(MediationSustained).dump_json(sustained))
    assert as_json["at"][0]["follow_up_event_ids"] == [str(sustained.at[0].follow_up_event_ids[0])]
    assert "person_ref" not in json.dumps(as_json) and "case_id" not in json.dumps(as_json)
    empty = await projected.sustained(district="burnley")
    assert (empty.returned_home, counts(empty)) == (0, [(3, 0, 0, None, 0), (6, 0, 0, None, 0)])
