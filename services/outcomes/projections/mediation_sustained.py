"""Mediation sustained: of the young people who went home after mediation, how many were still at home when
followed up 3 and 6 months later.

A return home is a MediationConcluded with outcome returned_home, one per case and attempt; its follow-ups are
the ReturnHomeFollowedUp of the same case and attempt at 3 and at 6 months. A later follow-up of the same attempt
and months (later in the case's history) replaces an earlier one: it is a correction. The two are kept apart and
joined when read, so a follow-up applied before its return home is not lost.

Counts are pooled: the percentage at 3 (or 6) months is every return home of the period and district followed up
then that was still at home, over every one followed up then (not an average of districts' percentages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import asyncpg

from shared.contracts.referral import MediationConcluded, ReturnHomeFollowedUp
from shared.contracts.vocabulary import MediationOutcome
from shared.projections import Projection, Recorded, event_types

SCHEMA = "outcomes"

FOLLOW_UP_MONTHS = (3, 6)

TABLES = [
    "CREATE TABLE IF NOT EXISTS mediation_sustained_returns ("
    " case_id uuid NOT NULL, attempt int NOT NULL, district text NOT NULL, returned_home_at timestamptz NOT NULL,"
    " event_id uuid NOT NULL, PRIMARY KEY (case_id, attempt))",
    "CREATE INDEX IF NOT EXISTS mediation_sustained_returns_by_day"
    " ON mediation_sustained_returns (returned_home_at)",
    "CREATE TABLE IF NOT EXISTS mediation_sustained_follow_ups ("
    " case_id uuid NOT NULL, attempt int NOT NULL, months_after int NOT NULL, still_at_home boolean NOT NULL,"
    " followed_up_at timestamptz NOT NULL, event_id uuid NOT NULL, case_version int NOT NULL,"
    " PRIMARY KEY (case_id, attempt, months_after))",
]


class MediationSustainedProjection(Projection):
    """Returns home after mediation, and their latest follow-up at 3 and at 6 months. Applying an event again
    changes nothing: a return home is kept once, and a follow-up replaces only one earlier in the case's history
    (its aggregate version)."""

    name = "mediation_sustained"
    follows = {"referral": event_types([MediationConcluded, ReturnHomeFollowedUp])}
    tables = TABLES

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, MediationConcluded):
            if event.outcome is MediationOutcome.returned_home:
                await conn.execute(
                    "INSERT INTO mediation_sustained_returns (case_id, attempt, district, returned_home_at, event_id)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, attempt) DO NOTHING",
                    event.case_id, event.attempt, event.district, event.occurred_at, event.event_id)
        elif isinstance(event, ReturnHomeFollowedUp):
            await conn.execute(
                "INSERT INTO mediation_sustained_follow_ups AS known (case_id, attempt, months_after, still_at_home,"
                " followed_up_at, event_id, case_version) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (case_id, attempt, months_after) DO UPDATE SET still_at_home = excluded.still_at_home,"
                " followed_up_at = excluded.followed_up_at, event_id = excluded.event_id,"
                " case_version = excluded.case_version WHERE known.case_version < excluded.case_version",
                event.case_id, event.attempt, event.months_after, event.still_at_home, event.occurred_at,
                event.event_id, event.aggregate_version)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class SustainedAt:
    """Returns home followed up at `months_after` months, how many were still at home, and how many are not
    followed up at this point (yet)."""

    months_after: int
    followed_up: int
    still_at_home: int
    still_at_home_percent: float | None
    """still_at_home over followed_up, as a percentage to 1 decimal; None when none was followed up."""
    not_yet_followed_up: int
    follow_up_event_ids: list[UUID] = field(default_factory=list)
    """The follow-ups counted (the latest of each return home at this point)."""


@dataclass(frozen=True)
class MediationSustained:
    """Young people (one per case and mediation attempt) who returned home after mediation on `first_day`..
    `last_day` (UTC days, both included), and whether they were still at home at 3 and at 6 months. No young
    person is named: only the follow-ups' event ids."""

    first_day: date
    last_day: date
    district: str | None
    returned_home: int
    at: list[SustainedAt]


async def mediation_sustained(conn: asyncpg.Connection, *, first_day: date, last_day: date,
                              district: str | None = None, schema: str = SCHEMA) -> MediationSustained:
    returned_home = await conn.fetchval(
        f"SELECT count(*) FROM {schema}.mediation_sustained_returns"
        " WHERE (returned_home_at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2 AND ($3::text IS NULL OR district = $3)",
        first_day, last_day, district)
    follow_ups = await conn.fetch(
        "SELECT f.months_after, f.still_at_home, f.event_id"
        f" FROM {schema}.mediation_sustained_returns r JOIN {schema}.mediation_sustained_follow_ups f"
        " USING (case_id, attempt)"
        " WHERE (r.returned_home_at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2"
        " AND ($3::text IS NULL OR r.district = $3)"
        " ORDER BY f.months_after, f.followed_up_at, f.event_id",
        first_day, last_day, district)
    at = []
    for months in FOLLOW_UP_MONTHS:
        followed = [row for row in follow_ups if row["months_after"] == months]
        still = sum(1 for row in followed if row["still_at_home"])
        at.append(SustainedAt(months_after=months, followed_up=len(followed), still_at_home=still,
                              still_at_home_percent=percent(still, len(followed)),
                              not_yet_followed_up=returned_home - len(followed),
                              follow_up_event_ids=[row["event_id"] for row in followed]))
    return MediationSustained(first_day=first_day, last_day=last_day, district=district,
                              returned_home=returned_home, at=at)
