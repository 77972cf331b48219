"""Cases per district and cohort: each case counted once, under its current cohort, open or not."""

from __future__ import annotations

import asyncpg

from services.journeys.projections.cases_by_district import CasesByDistrict, cases_by_district
from shared.contracts.vocabulary import Cohort
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import ACase, days_ago


async def project(pool: asyncpg.Pool, schema: str, *events) -> None:
    """Apply the events as one batch, as the runner would, in the test's schema."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        await CasesByDistrict().apply(conn, [Recorded(event, "CASETRACK_REFERRAL", n, n)
                                             for n, event in enumerate(events, start=1)])


async def test_cases_are_counted_per_district_and_cohort_with_how_many_are_open(pool, schema):
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, CasesByDistrict())
    dover, closed, wyre, reopened = ACase("dover"), ACase("dover"), ACase("wyre"), ACase("wyre")
    await project(pool, schema, dover.referred(), closed.referred(), wyre.referred(), reopened.referred(),
                  closed.closed(days_ago(5)), reopened.closed(days_ago(4)),
                  reopened.reopened(days_ago(2), cohort=Cohort.young_person_at_risk))

    async with pool.acquire() as conn:
        every = await cases_by_district(conn, None, schema)
        only_dover = await cases_by_district(conn, "dover", schema)

    assert every == [
        {"district": "dover", "cohort": Cohort.care_leaver.value, "cases": 2, "open": 1},
        {"district": "wyre", "cohort": Cohort.care_leaver.value, "cases": 1, "open": 1},
        {"district": "wyre", "cohort": Cohort.young_person_at_risk.value, "cases": 1, "open": 1},
    ]
    assert only_dover == every[:1]


async def test_a_case_is_counted_under_the_cohort_a_status_change_or_turning_18_gave_it(pool, schema):
    from shared.contracts.referral import AgeReached
    from shared.contracts.vocabulary import LegalStatus

    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, CasesByDistrict())
    case = ACase("thanet")
    await project(pool, schema, case.referred(),
                  case._event(AgeReached, days_ago(3), age=18, legal_status=LegalStatus.not_looked_after,
                              cohort=Cohort.young_person_at_risk))

    async with pool.acquire() as conn:
        counted = await cases_by_district(conn, "thanet", schema)

    assert counted == [{"district": "thanet", "cohort": Cohort.young_person_at_risk.value, "cases": 1, "open": 1}]
