"""Returns (the revolving door): a young person referred again within 6, 12 or 24 months of a planned move-on.

A planned move-on is a PlacementEnded or a FloatingSupportEnded with `planned` true (a move between schemes is no
move-on: the young person is still in the pathway; an unplanned ending or a breakdown is none either). A return
is a referral (ReferralMade) or a re-referral (CaseReopened) of the same young person, dated after the move-on
and no later than N calendar months after its day (UTC days): on the same case or on any other case of the same
person, linked cases included. "The same person" is decided when the table is read, from each case's person now
(its envelope's person_ref after its latest referral event; PersonLinked puts a case under the person it is
linked to, PersonUnlinked back), so a link or an unlink made after the event still counts.

`ReturnsProjection` keeps three tables and matches nothing when it applies an event: the placement events (the
move-ons) and the referral events (referrals, who each case's person is) are applied by two runners, in any
order relative to each other, and `returns_after_move_on` matches them at query time. Every figure is explained
by event ids: each move-on counted as a return and the first referral that made it one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import asyncpg

from shared.contracts.placement import FloatingSupportEnded, PlacementEnded
from shared.contracts.referral import CaseReopened, PersonLinked, PersonUnlinked, ReferralMade
from shared.projections import Projection, Recorded, event_types

SCHEMA = "outcomes"

TABLES = [
    "CREATE TABLE IF NOT EXISTS returns_move_ons ("
    " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, district text NOT NULL,"
    " moved_on_at timestamptz NOT NULL, destination text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS returns_move_ons_by_day ON returns_move_ons (moved_on_at)",
    "CREATE TABLE IF NOT EXISTS returns_referrals ("
    " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, referred_at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS returns_referrals_by_case ON returns_referrals (case_id, referred_at)",
    "CREATE TABLE IF NOT EXISTS returns_case_people ("
    " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, case_version int NOT NULL)",
    "CREATE INDEX IF NOT EXISTS returns_case_people_by_person ON returns_case_people (person_ref)",
]


class ReturnsProjection(Projection):
    """Planned move-ons, referrals and re-referrals, and each case's person now. Applying an event again changes
    nothing: move-ons and referrals are keyed by their event id, and a case's person is set only by an event
    later in the case's history (its aggregate version) than the one that set it last."""

    name = "returns"
    follows = {"referral": event_types([ReferralMade, CaseReopened, PersonLinked, PersonUnlinked]),
               "placement": event_types([PlacementEnded, FloatingSupportEnded])}
    tables = TABLES

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, (PlacementEnded, FloatingSupportEnded)):
            if event.planned:
                await conn.execute(
                    "INSERT INTO returns_move_ons (event_id, case_id, district, moved_on_at, destination)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                    event.event_id, event.case_id, event.district, event.occurred_at, event.destination.value)
            return
        if isinstance(event, (ReferralMade, CaseReopened)):
            await conn.execute(
                "INSERT INTO returns_referrals (event_id, case_id, referred_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (event_id) DO NOTHING", event.event_id, event.case_id, event.occurred_at)
        if isinstance(event, (ReferralMade, CaseReopened, PersonLinked, PersonUnlinked)):
            await conn.execute(
                "INSERT INTO returns_case_people AS known (case_id, person_ref, case_version) VALUES ($1, $2, $3)"
                " ON CONFLICT (case_id) DO UPDATE SET person_ref = excluded.person_ref,"
                " case_version = excluded.case_version WHERE known.case_version < excluded.case_version",
                event.case_id, event.person_ref, event.aggregate_version)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Return:
    """A planned move-on followed by a return within the window, and the first referral that made it one."""

    move_on_event_id: UUID
    referral_event_id: UUID


@dataclass(frozen=True)
class ReturnsWithin:
    """Planned move-ons whose `within_months` months are over (`due`), how many were followed by a return within
    them, and the ones whose window is still running (`not_yet_due`: in no other figure of this row)."""

    within_months: int
    due: int
    returned: int
    returned_percent: float | None
    """returned over due, as a percentage to 1 decimal; None when none is due."""
    not_yet_due: int
    returns: list[Return] = field(default_factory=list)


@dataclass(frozen=True)
class ReturnsTable:
    """Returns after planned move-ons dated `first_day`..`last_day` (UTC days, both included), one row per window,
    as they stood on `today`. No young person is named: cases and people are not in it, only event ids."""

    first_day: date
    last_day: date
    today: date
    district: str | None
    move_ons: int
    """Planned move-ons in the period (due or not)."""
    rows: list[ReturnsWithin]


async def returns_after_move_on(conn: asyncpg.Connection, *, first_day: date, last_day: date, today: date,
                                within_months: Sequence[int], district: str | None = None,
                                schema: str = SCHEMA) -> ReturnsTable:
    """For each window of N calendar months: the planned move-ons of the period whose window (the move-on's day +
    N months, included) ended before `today`, and which of them the same young person was referred or re-referred
    after, within the window; each move-on counts once per window, with the first referral that made it a return."""
    windows = list(dict.fromkeys(within_months))
    if any(months < 1 for months in windows):
        raise ValueError(f"a window is a whole number of months, at least 1: {list(within_months)}")
    rows = await conn.fetch(
        "WITH move_on AS ("
        "  SELECT m.event_id, m.moved_on_at, (m.moved_on_at AT TIME ZONE 'UTC')::date AS day, p.person_ref"
        f" FROM {schema}.returns_move_ons m LEFT JOIN {schema}.returns_case_people p USING (case_id)"
        "  WHERE (m.moved_on_at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2 AND ($3::text IS NULL OR m.district = $3)"
        "), windowed AS ("
        "  SELECT move_on.*, months, (day + make_interval(months => months))::date AS window_ends"
        "  FROM move_on CROSS JOIN unnest($4::int[]) AS months"
        ")"
        " SELECT windowed.months, windowed.event_id, windowed.window_ends < $5 AS due, first.event_id AS referral"
        " FROM windowed LEFT JOIN LATERAL ("
        "  SELECT r.event_id"
        f" FROM {schema}.returns_case_people p JOIN {schema}.returns_referrals r USING (case_id)"
        "  WHERE p.person_ref = windowed.person_ref AND r.referred_at > windowed.moved_on_at"
        "   AND (r.referred_at AT TIME ZONE 'UTC')::date <= windowed.window_ends"
        "  ORDER BY r.referred_at, r.event_id LIMIT 1"
        " ) first ON windowed.window_ends < $5"
        " ORDER BY windowed.months, windowed.moved_on_at, windowed.event_id",
        first_day, last_day, district, windows, today)
    table = []
    for months in windows:
        of_window = [row for row in rows if row["months"] == months]
        due = [row for row in of_window if row["due"]]
        returns = [Return(row["event_id"], row["referral"]) for row in due if row["referral"] is not None]
        table.append(ReturnsWithin(within_months=months, due=len(due), returned=len(returns),
                                   returned_percent=percent(len(returns), len(due)),
                                   not_yet_due=len(of_window) - len(due), returns=returns))
    move_ons = len({row["event_id"] for row in rows}) if windows else await conn.fetchval(
        f"SELECT count(*) FROM {schema}.returns_move_ons"
        " WHERE (moved_on_at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2 AND ($3::text IS NULL OR district = $3)",
        first_day, last_day, district)
    return ReturnsTable(first_day=first_day, last_day=last_day, today=today, district=district,
                        move_ons=move_ons, rows=table)
