"""Mediation's return-home rate: how many concluded mediation attempts ended with the young person back home,
and how many of those returns lasted when followed up at 3 and at 6 months (seed 000 slide 14: 30% to 85%).

`MediationReturnsProjection` follows the referral service's own store and keeps one row per concluded attempt;
the read is an aggregate for analysts and commissioners: counts only, no case or person named.
"""

from __future__ import annotations

from datetime import date

import asyncpg
from pydantic import BaseModel, Field

from shared.contracts.referral import MediationConcluded, ReturnHomeFollowedUp
from shared.contracts.vocabulary import MediationOutcome
from shared.projections import Projection, Recorded, event_types

SCHEMA = "referral"


class MediationReturnsProjection(Projection):
    """One row per concluded mediation attempt: its outcome and, for a return home, whether it lasted at 3 and
    6 months. Applying an event again changes nothing."""

    name = "mediation_returns"
    follows = {"referral": event_types([MediationConcluded, ReturnHomeFollowedUp])}
    tables = [
        "CREATE TABLE IF NOT EXISTS mediation_returns ("
        " case_id uuid NOT NULL, attempt int NOT NULL, district text NOT NULL, concluded_at timestamptz NOT NULL,"
        " outcome text NOT NULL, still_at_home_3_months boolean, still_at_home_6_months boolean,"
        " PRIMARY KEY (case_id, attempt))",
        "CREATE INDEX IF NOT EXISTS mediation_returns_by_district ON mediation_returns (district, concluded_at)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, MediationConcluded):
            await conn.execute(
                "INSERT INTO mediation_returns (case_id, attempt, district, concluded_at, outcome)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, attempt) DO NOTHING",
                event.case_id, event.attempt, event.district, event.occurred_at, event.outcome.value)
        elif isinstance(event, ReturnHomeFollowedUp):
            column = f"still_at_home_{event.months_after}_months"  # months_after is 3 or 6 (the contract says)
            await conn.execute(f"UPDATE mediation_returns SET {column} = $3 WHERE case_id = $1 AND attempt = $2",
                               event.case_id, event.attempt, event.still_at_home)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


class ReturnsLasted(BaseModel):
    """Returns home followed up at `months_after` months, and how many lasted."""

    months_after: int
    followed_up: int
    still_at_home: int
    lasted_percent: float | None = Field(description="still_at_home over followed_up, as a percentage; null if none")
    not_followed_up: int = Field(description="Returns home with no follow-up at this point recorded (yet)")


class MediationReturnHomeRate(BaseModel):
    """Concluded mediation attempts, how many ended with a return home, and whether the returns lasted. Counts
    are of attempts (a young person may have more than one); no case or young person is named."""

    district: str | None
    concluded_from: date | None
    concluded_to: date | None
    concluded: int
    returned_home: int
    return_home_percent: float | None = Field(description="returned_home over concluded; null if none concluded")
    lasted: list[ReturnsLasted]


async def mediation_return_home_rate(conn: asyncpg.Connection, district: str | None, concluded_from: date | None,
                                     concluded_to: date | None, schema: str = SCHEMA) -> MediationReturnHomeRate:
    row = await conn.fetchrow(
        "SELECT count(*) AS concluded, count(*) FILTER (WHERE outcome = $4) AS returned_home,"
        " count(still_at_home_3_months) AS followed_3, count(*) FILTER (WHERE still_at_home_3_months) AS home_3,"
        " count(still_at_home_6_months) AS followed_6, count(*) FILTER (WHERE still_at_home_6_months) AS home_6"
        f" FROM {schema}.mediation_returns WHERE ($1::text IS NULL OR district = $1)"
        " AND ($2::date IS NULL OR (concluded_at AT TIME ZONE 'UTC')::date >= $2)"
        " AND ($3::date IS NULL OR (concluded_at AT TIME ZONE 'UTC')::date <= $3)",
        district, concluded_from, concluded_to, MediationOutcome.returned_home.value)
    returned = row["returned_home"]
    return MediationReturnHomeRate(
        district=district, concluded_from=concluded_from, concluded_to=concluded_to, concluded=row["concluded"],
        returned_home=returned, return_home_percent=percent(returned, row["concluded"]),
        lasted=[ReturnsLasted(months_after=months, followed_up=row[f"followed_{months}"],
                              still_at_home=row[f"home_{months}"],
                              lasted_percent=percent(row[f"home_{months}"], row[f"followed_{months}"]),
                              not_followed_up=returned - row[f"followed_{months}"])
                for months in (3, 6)])
