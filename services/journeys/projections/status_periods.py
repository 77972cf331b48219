"""Status periods: each case's legal status, cohort and age band (16-17 or 18+) over time, so that cases are
counted by the status they had **on the day**, not at referral; and B&B nights counted by the age on the night.

The read model keeps each case's dated status facts (a referral or re-referral, a legal status change, turning
18, a closure); a case's periods run from one fact to the next by `occurred_at`, whatever order the facts were
recorded in. Counting a day takes, for each case, its latest status fact dated before the end of that day (UTC),
and counts the case if it was open then. Safeguarding flags are not here (nor anywhere in the journeys service):
this is an analyst output.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
from pydantic import BaseModel, Field

from shared.contracts import Event
from shared.contracts.placement import BedAndBreakfastNightsRecorded
from shared.contracts.referral import AgeReached, CaseClosed, CaseReopened, LegalStatusChanged, ReferralMade
from shared.contracts.vocabulary import Cohort, LegalStatus
from shared.projections import Projection, Recorded, Statement, event_types, execute_in_runs

ADULT = 18
UNDER_18, ADULTS = "16-17", "18+"


def age_band(age: int) -> str:
    return UNDER_18 if age < ADULT else ADULTS


class StatusPeriods(Projection):
    """Each case's dated status facts (opened, status, closed) and its B&B nights."""

    name = "status_periods"
    follows = {
        "referral": event_types([ReferralMade, CaseReopened, LegalStatusChanged, AgeReached, CaseClosed]),
        "placement": event_types([BedAndBreakfastNightsRecorded]),
    }
    tables = [
        "CREATE TABLE IF NOT EXISTS status_facts ("
        " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, district text NOT NULL,"
        " kind text NOT NULL CHECK (kind IN ('opened', 'status', 'closed')),"
        " legal_status text, cohort text, age_band text, occurred_at timestamptz NOT NULL, sequence bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS status_facts_by_case ON status_facts (case_id, occurred_at DESC, sequence DESC)",
        "CREATE INDEX IF NOT EXISTS status_facts_by_day ON status_facts (occurred_at)",
        "CREATE TABLE IF NOT EXISTS bed_and_breakfast_nights ("
        " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, district text NOT NULL, first_night date NOT NULL,"
        " nights int NOT NULL)",
    ]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[Recorded]) -> None:
        await execute_in_runs(conn, (change for recorded in batch for change in changes(recorded)))


FACT = ("INSERT INTO status_facts (event_id, case_id, district, kind, legal_status, cohort, age_band, occurred_at,"
        " sequence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING")


def changes(recorded: Recorded) -> list[Statement]:
    event: Event = recorded.event
    envelope = (event.event_id, event.case_id, event.district)
    if isinstance(event, (ReferralMade, CaseReopened)):
        return [(FACT, (*envelope, "opened", event.legal_status.value, event.cohort.value,
                        age_band(event.age_at_event), event.occurred_at, recorded.sequence))]
    if isinstance(event, LegalStatusChanged):
        return [(FACT, (*envelope, "status", event.legal_status.value, event.cohort.value,
                        age_band(event.age_at_event), event.occurred_at, recorded.sequence))]
    if isinstance(event, AgeReached):
        return [(FACT, (*envelope, "status", event.legal_status.value, event.cohort.value, age_band(event.age),
                        event.occurred_at, recorded.sequence))]
    if isinstance(event, CaseClosed):
        return [(FACT, (*envelope, "closed", None, None, None, event.occurred_at, recorded.sequence))]
    if isinstance(event, BedAndBreakfastNightsRecorded):
        return [("INSERT INTO bed_and_breakfast_nights (event_id, case_id, district, first_night, nights)"
                 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                 (*envelope, event.first_night, event.nights))]
    return []


# -- reading -----------------------------------------------------------------------------------------------------


class StatusCount(BaseModel):
    """Open cases of a district with a legal status, cohort and age band on the day."""

    district: str
    cohort: Cohort
    legal_status: LegalStatus
    age_band: str = Field(description="16-17 or 18+, on the day")
    cases: int


class CountsByStatus(BaseModel):
    """Open cases counted by the cohort, legal status and age band each had on `on` (at the end of the day, UTC)."""

    on: date
    district: str | None
    counts: list[StatusCount]


class NightsByAge(BaseModel):
    """B&B nights of a district counted by the young person's age band on the night."""

    district: str
    age_band: str = Field(description="16-17 or 18+ on the night; `unknown` before the case's referral is known")
    nights: int


class BedAndBreakfastByAge(BaseModel):
    """B&B nights from `start` to `end` (inclusive), by the age band on each night."""

    start: date
    end: date
    district: str | None
    nights: list[NightsByAge]


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def counts_by_status(conn: asyncpg.Connection, on: date, district: str | None,
                           schema: str = "journeys") -> CountsByStatus:
    rows = await conn.fetch(
        "WITH status AS (SELECT DISTINCT ON (case_id) case_id, district, legal_status, cohort, age_band"
        f"  FROM {schema}.status_facts WHERE kind <> 'closed' AND occurred_at < $1"
        "  AND ($2::text IS NULL OR district = $2) ORDER BY case_id, occurred_at DESC, sequence DESC),"
        " open AS (SELECT DISTINCT ON (case_id) case_id, kind"
        f"  FROM {schema}.status_facts WHERE kind <> 'status' AND occurred_at < $1"
        "  AND ($2::text IS NULL OR district = $2) ORDER BY case_id, occurred_at DESC, sequence DESC)"
        " SELECT s.district, s.cohort, s.legal_status, s.age_band, count(*) AS cases"
        " FROM status s JOIN open o USING (case_id) WHERE o.kind = 'opened'"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", end_of(on), district)
    return CountsByStatus(on=on, district=district, counts=[StatusCount(**dict(row)) for row in rows])


async def bed_and_breakfast_by_age(conn: asyncpg.Connection, start: date, end: date, district: str | None,
                                   schema: str = "journeys") -> BedAndBreakfastByAge:
    rows = await conn.fetch(
        "SELECT n.district, coalesce(s.age_band, 'unknown') AS age_band, count(*) AS nights FROM ("
        "  SELECT b.case_id, b.district, night::date AS night"
        f"  FROM {schema}.bed_and_breakfast_nights b,"
        "   generate_series(greatest(b.first_night, $1), least(b.first_night + b.nights - 1, $2), '1 day') AS night"
        "  WHERE ($3::text IS NULL OR b.district = $3)) n"
        " LEFT JOIN LATERAL (SELECT f.age_band FROM"
        f"  {schema}.status_facts f WHERE f.case_id = n.case_id AND f.kind <> 'closed'"
        "  AND f.occurred_at < (n.night + 1)::timestamp AT TIME ZONE 'UTC'"
        "  ORDER BY f.occurred_at DESC, f.sequence DESC LIMIT 1) s ON true"
        " GROUP BY 1, 2 ORDER BY 1, 2", start, end, district)
    return BedAndBreakfastByAge(start=start, end=end, district=district,
                                nights=[NightsByAge(**dict(row)) for row in rows])
