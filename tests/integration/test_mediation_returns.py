"""The mediation_returns projection on real PostgreSQL: mediation's return-home rate, and how many returns home
lasted at 3 and at 6 months."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.referral.projections.mediation_returns import (
    MediationReturnHomeRate,
    MediationReturnsProjection,
    mediation_return_home_rate,
)
from shared.contracts import Event
from shared.contracts.vocabulary import MediationOutcome
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import TODAY, ACase, days_ago


class Returns:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool, self.schema, self.sequence = pool, schema, 0
        self.projection = MediationReturnsProjection()

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            batch = []
            for event in events:
                self.sequence += 1
                batch.append(Recorded(event, "CASETRACK_REFERRAL", self.sequence, self.sequence))
            await self.projection.apply(conn, batch)

    async def rate(self, district: str | None = None, concluded_from=None,
                   concluded_to=None) -> MediationReturnHomeRate:
        async with self.pool.acquire() as conn:
            return await mediation_return_home_rate(conn, district, concluded_from, concluded_to, self.schema)


@pytest.fixture
async def returns(pool: asyncpg.Pool, schema: str) -> Returns:
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, MediationReturnsProjection())
    return Returns(pool, schema)


async def test_the_return_home_rate_counts_attempts_and_how_many_returns_lasted(returns):
    lasted, broke_down, not_yet, wider_family, not_possible = ACase(), ACase(), ACase(), ACase(), ACase()
    await returns.apply(
        lasted.referred(), lasted.mediation_concluded(days_ago(200), 1, MediationOutcome.returned_home),
        lasted.followed_up(days_ago(110), 1, 3, True), lasted.followed_up(days_ago(20), 1, 6, True),
        broke_down.referred(), broke_down.mediation_concluded(days_ago(200), 1, MediationOutcome.returned_home),
        broke_down.followed_up(days_ago(110), 1, 3, False), broke_down.followed_up(days_ago(20), 1, 6, False),
        not_yet.referred(), not_yet.mediation_concluded(days_ago(100), 1, MediationOutcome.returned_home),
        not_yet.followed_up(days_ago(9), 1, 3, True),
        wider_family.referred(),
        wider_family.mediation_concluded(days_ago(50), 1, MediationOutcome.stayed_with_wider_family_or_friends),
        not_possible.referred(), not_possible.mediation_concluded(days_ago(50), 1, MediationOutcome.not_possible))

    rate = await returns.rate()

    assert (rate.concluded, rate.returned_home, rate.return_home_percent) == (5, 3, 60.0)
    at_3, at_6 = rate.lasted
    assert (at_3.months_after, at_3.followed_up, at_3.still_at_home, at_3.lasted_percent, at_3.not_followed_up) == (
        3, 3, 2, 66.7, 0)
    assert (at_6.months_after, at_6.followed_up, at_6.still_at_home, at_6.lasted_percent, at_6.not_followed_up) == (
        6, 2, 1, 50.0, 1)
    assert "person_ref" not in rate.model_dump_json() and "case_id" not in rate.model_dump_json()


async def test_applying_the_same_events_again_changes_nothing(returns):
    case = ACase()
    events = [case.mediation_concluded(days_ago(120), 1, MediationOutcome.returned_home),
              case.followed_up(days_ago(20), 1, 3, True)]
    await returns.apply(*events)
    await returns.apply(*events)

    rate = await returns.rate()
    assert (rate.concluded, rate.returned_home, rate.lasted[0].still_at_home) == (1, 1, 1)


async def test_the_rate_can_be_confined_to_a_district_and_a_period_of_conclusion(returns):
    wyre, dover = ACase(district="wyre"), ACase(district="dover")
    await returns.apply(wyre.mediation_concluded(days_ago(40), 1, MediationOutcome.returned_home),
                        dover.mediation_concluded(days_ago(10), 1, MediationOutcome.not_possible))

    assert (await returns.rate(district="dover")).returned_home == 0
    assert (await returns.rate(concluded_from=TODAY - timedelta(days=20))).concluded == 1
    assert (await returns.rate(concluded_to=TODAY - timedelta(days=20))).returned_home == 1
    empty = await returns.rate(district="burnley")
    assert (empty.concluded, empty.return_home_percent, empty.lasted[0].lasted_percent) == (0, None, None)
