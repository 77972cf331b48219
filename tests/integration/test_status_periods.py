"""The status_periods read model on real PostgreSQL: cases counted by the cohort, legal status and age band they
had on the day, whatever order the facts were recorded in; B&B nights by the age on the night."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.journeys.projections.status_periods import StatusPeriods, bed_and_breakfast_by_age, counts_by_status
from shared.contracts import Event
from shared.contracts.placement import BedAndBreakfastNightsRecorded
from shared.contracts.referral import AgeReached, CaseClosed, CaseReopened, LegalStatusChanged, ReferralMade
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Gateway,
    LegalStatus,
    PresentingReason,
    StatusChangeReason,
)
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import TODAY, ACase, on

BIRTHDAY = date(2026, 3, 10)
"""An 18th birthday: the date of no event (TODAY is 1 May 2026)."""
COUNTED_AS_18 = date(2026, 4, 1)
"""The first day of the month after it: AgeReached's day (30 days before TODAY)."""


def day(days_ago: int) -> date:
    return TODAY - timedelta(days=days_ago)


class Periods:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool, self.schema, self.sequence = pool, schema, 0

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            batch = []
            for event in events:
                self.sequence += 1
                batch.append(Recorded(event, "CASETRACK_REFERRAL", self.sequence, self.sequence))
            await StatusPeriods().apply(conn, batch)

    async def on(self, when: date, district: str | None = None) -> set[tuple]:
        async with self.pool.acquire() as conn:
            counts = await counts_by_status(conn, when, district, self.schema)
        return {(c.district, c.cohort.value, c.legal_status.value, c.age_band, c.cases) for c in counts.counts}


@pytest.fixture
async def periods(pool, schema) -> Periods:
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, StatusPeriods())
    return Periods(pool, schema)


def referred(case: ACase, days_ago: int, cohort: Cohort, legal_status: LegalStatus, age: int) -> Event:
    return case._event(ReferralMade, on(day(days_ago)), gateway=Gateway.hub, cohort=cohort,
                       legal_status=legal_status, age_at_event=age, presenting_reason=PresentingReason.other)


def reached_18(case: ACase) -> Event:
    return case._event(AgeReached, on(COUNTED_AS_18, 0), age=18, legal_status=LegalStatus.former_relevant,
                       cohort=Cohort.care_leaver)


async def test_a_relevant_child_is_counted_16_17_to_the_end_of_the_birthday_month_and_former_relevant_18_after(
        periods):
    case = ACase(district="wyre")
    await periods.apply(referred(case, 60, Cohort.care_leaver, LegalStatus.relevant, 17), reached_18(case))

    assert await periods.on(day(61)) == set()
    assert await periods.on(BIRTHDAY) == {("wyre", "care_leaver", "relevant", "16-17", 1)}
    assert await periods.on(COUNTED_AS_18 - timedelta(days=1)) == {("wyre", "care_leaver", "relevant", "16-17", 1)}
    assert await periods.on(COUNTED_AS_18) == {("wyre", "care_leaver", "former_relevant", "18+", 1)}


async def test_a_status_recorded_between_the_birthday_and_the_months_end_counts_by_its_real_age(periods):
    case = ACase(district="pendle")
    changed_on = BIRTHDAY + timedelta(days=10)
    await periods.apply(referred(case, 60, Cohort.care_leaver, LegalStatus.relevant, 17),
                        case._event(LegalStatusChanged, on(changed_on), legal_status=LegalStatus.former_relevant,
                                    previous_legal_status=LegalStatus.relevant, cohort=Cohort.care_leaver,
                                    reason=StatusChangeReason.corrected, age_at_event=18))

    assert await periods.on(changed_on - timedelta(days=1), "pendle") == {
        ("pendle", "care_leaver", "relevant", "16-17", 1)}
    assert await periods.on(changed_on, "pendle") == {("pendle", "care_leaver", "former_relevant", "18+", 1)}


async def test_a_status_change_counts_from_its_day_and_a_closed_case_is_not_counted_until_reopened(periods):
    case = ACase(district="fylde")
    await periods.apply(
        referred(case, 60, Cohort.homeless_16_17, LegalStatus.not_looked_after, 16),
        case._event(LegalStatusChanged, on(day(50)), legal_status=LegalStatus.looked_after_section_20,
                    previous_legal_status=LegalStatus.not_looked_after, cohort=Cohort.looked_after_16_17,
                    reason=StatusChangeReason.southwark_assessment, age_at_event=16),
        case._event(CaseClosed, on(day(30)), reason=ClosureReason.returned_home),
        case._event(CaseReopened, on(day(20)), presenting_reason=PresentingReason.other,
                    cohort=Cohort.homeless_16_17, legal_status=LegalStatus.child_in_need, age_at_event=16))

    assert await periods.on(day(55), "fylde") == {("fylde", "homeless_16_17", "not_looked_after", "16-17", 1)}
    assert await periods.on(day(40), "fylde") == {("fylde", "looked_after_16_17", "looked_after_section_20",
                                                   "16-17", 1)}
    assert await periods.on(day(25), "fylde") == set()
    assert await periods.on(day(20), "fylde") == {("fylde", "homeless_16_17", "child_in_need", "16-17", 1)}
    assert await periods.on(day(1), "burnley") == set()


async def test_facts_recorded_out_of_order_count_by_the_day_they_happened(periods):
    case = ACase(district="chorley")
    made = referred(case, 60, Cohort.care_leaver, LegalStatus.relevant, 17)
    reached = reached_18(case)
    closed = case._event(CaseClosed, on(day(35)), reason=ClosureReason.moved_on)  # recorded after, dated before

    await periods.apply(made, reached, closed)

    assert await periods.on(day(36), "chorley") == {("chorley", "care_leaver", "relevant", "16-17", 1)}
    assert await periods.on(TODAY, "chorley") == set()


async def test_bed_and_breakfast_nights_are_counted_by_the_age_on_each_night(periods, pool, schema):
    case = ACase(district="lancaster")
    nights = BedAndBreakfastNightsRecorded(
        aggregate_id=uuid4(), aggregate_version=2, case_id=case.case_id, person_ref=case.person_ref,
        district="lancaster", occurred_at=on(day(3)), placement_id=uuid4(), scheme_id=uuid4(),
        first_night=day(34), nights=7, cohort=Cohort.care_leaver)  # 28 March to 3 April
    await periods.apply(referred(case, 60, Cohort.care_leaver, LegalStatus.relevant, 17), reached_18(case), nights)

    async with pool.acquire() as conn:
        by_age = await bed_and_breakfast_by_age(conn, day(60), TODAY, "lancaster", schema)
        first_two = await bed_and_breakfast_by_age(conn, day(60), day(33), None, schema)

    assert {(n.age_band, n.nights) for n in by_age.nights} == {("16-17", 4), ("18+", 3)}
    assert {(n.age_band, n.nights) for n in first_two.nights} == {("16-17", 2)}
