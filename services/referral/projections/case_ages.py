"""Case ages: for each open case, the young person's age at its latest age fact and the earliest day they can be
counted as 18 (the first of the month after the earliest their 18th birthday can be: AgeReached is dated then), so
the birthday sweep reads the date of birth (from the vault) only of the cases that may be due.
No date of birth is kept here: an age and the day it was known, as the case's events publish them."""

from __future__ import annotations

from datetime import date

import asyncpg

from services.referral.domain import ADULT, earliest_counted_as_18
from shared.contracts.referral import AgeReached, CaseClosed, CaseReopened, LegalStatusChanged, ReferralMade
from shared.projections import Projection, Recorded, event_types


class CaseAgesProjection(Projection):
    """One row per case: open or not, the age at its latest age fact, and the earliest day it may be counted as 18
    (null once 18 or over)."""

    name = "case_ages"
    version = 2
    """2: `counted_as_18_earliest` (the first of the month after the earliest birthday) replaces
    `turns_18_earliest` (the earliest birthday)."""
    follows = {"referral": event_types([ReferralMade, CaseReopened, LegalStatusChanged, AgeReached, CaseClosed])}
    tables = [
        "CREATE TABLE IF NOT EXISTS case_ages ("
        " case_id uuid PRIMARY KEY, open boolean NOT NULL, age int NOT NULL, age_on date NOT NULL,"
        " counted_as_18_earliest date, last_sequence bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_ages_counted_as_18 ON case_ages (counted_as_18_earliest)"
        " WHERE open AND counted_as_18_earliest IS NOT NULL",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, sequence = recorded.event, recorded.sequence
        if isinstance(event, CaseClosed):
            await conn.execute("UPDATE case_ages SET open = false, last_sequence = $2"
                               " WHERE case_id = $1 AND last_sequence < $2", event.case_id, sequence)
            return
        age = event.age if isinstance(event, AgeReached) else event.age_at_event
        on = event.occurred_at.date()
        await conn.execute(
            "INSERT INTO case_ages (case_id, open, age, age_on, counted_as_18_earliest, last_sequence)"
            " VALUES ($1, true, $2, $3, $4, $5) ON CONFLICT (case_id) DO UPDATE SET"
            " open = true, last_sequence = $5,"
            " age = CASE WHEN $3 >= case_ages.age_on THEN $2 ELSE case_ages.age END,"
            " age_on = greatest(case_ages.age_on, $3),"
            " counted_as_18_earliest = CASE WHEN $3 >= case_ages.age_on THEN $4"
            " ELSE case_ages.counted_as_18_earliest END"
            " WHERE case_ages.last_sequence < $5",
            event.case_id, age, on, counted_as_18_earliest(age, on), sequence)


def counted_as_18_earliest(age: int, on: date) -> date | None:
    return earliest_counted_as_18(age, on) if age < ADULT else None
