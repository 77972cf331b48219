"""Cases per district and cohort: how many young people each district has referred, by cohort, and how many
of those cases are open. Each case is counted once, under its current cohort (a re-referral, a legal status change
or turning 18 may change it; counts by the cohort on a given day are `status_periods`')."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.contracts import Event
from shared.contracts.referral import AgeReached, CaseClosed, CaseReopened, LegalStatusChanged, ReferralMade
from shared.projections import Projection, Recorded, Statement, event_types, execute_in_runs


class CasesByDistrict(Projection):
    """One row per case with its district, cohort and status; counted per district and cohort when read."""

    name = "cases_by_district"
    follows = {"referral": event_types([ReferralMade, CaseClosed, CaseReopened, LegalStatusChanged, AgeReached])}
    tables = [
        "CREATE TABLE IF NOT EXISTS district_cases ("
        " case_id uuid PRIMARY KEY, district text NOT NULL, cohort text NOT NULL, open boolean NOT NULL)",
        "CREATE INDEX IF NOT EXISTS district_cases_by_district ON district_cases (district, cohort)",
    ]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[Recorded]) -> None:
        await execute_in_runs(conn, (change for recorded in batch for change in self.changes(recorded.event)))

    @staticmethod
    def changes(event: Event) -> list[Statement]:
        if isinstance(event, ReferralMade):
            return [("INSERT INTO district_cases (case_id, district, cohort, open) VALUES ($1, $2, $3, true)"
                     " ON CONFLICT (case_id) DO NOTHING", (event.case_id, event.district, event.cohort.value))]
        if isinstance(event, CaseClosed):
            return [("UPDATE district_cases SET open = false WHERE case_id = $1", (event.case_id,))]
        if isinstance(event, CaseReopened):
            return [("UPDATE district_cases SET open = true, cohort = $2 WHERE case_id = $1",
                     (event.case_id, event.cohort.value))]
        if isinstance(event, (LegalStatusChanged, AgeReached)):
            return [("UPDATE district_cases SET cohort = $2 WHERE case_id = $1", (event.case_id, event.cohort.value))]
        return []


async def cases_by_district(conn: asyncpg.Connection, district: str | None, schema: str = "journeys") -> list[dict]:
    """Per district and cohort: the cases referred and how many are open."""
    rows = await conn.fetch(
        "SELECT district, cohort, count(*) AS cases, count(*) FILTER (WHERE open) AS open"
        f" FROM {schema}.district_cases WHERE $1::text IS NULL OR district = $1"
        " GROUP BY district, cohort ORDER BY district, cohort", district)
    return [dict(row) for row in rows]
