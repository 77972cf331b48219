"""The placement service's read model of its own events: the catalogue, and each placement's current stay.

`PlacementReadModel` follows the placement service's own store. It answers the questions that need every
scheme or placement at once: the catalogue by district, stage and support level; the stays over their scheme's
maximum stay, and each scheme's average stay against its target; the cases a panel allocated a service that are
still awaiting a placement. Decisions never read it: capacity and overlaps are decided on the aggregates.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from shared.contracts.placement import (
    BedAndBreakfastNightsRecorded,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
    ProviderRegistered,
    SchemeCapacityChanged,
    SchemeRegistered,
    SchemeStayLimitsChanged,
)
from shared.projections import Projection, Recorded, event_types

SCHEMA = "placement"


class PlacementReadModel(Projection):
    """Keeps the catalogue and each placement's current stay from the placement service's own events.

    Unit lettings are not kept here (occupancy comes from the scheme aggregates); every update is guarded
    by the position of the last event applied to the row, so applying an event again changes nothing."""

    name = "placements"
    version = 2
    """2: stay limits dated per scheme, and every stay kept (issue 11)."""
    follows = {"placement": event_types([ProviderRegistered, SchemeRegistered, SchemeCapacityChanged,
                                         PlacementStarted, PlacementMoved, PlacementEnded, PlacementBrokeDown,
                                         BedAndBreakfastNightsRecorded, SchemeStayLimitsChanged])}
    tables = [
        "CREATE TABLE IF NOT EXISTS providers ("
        " provider_id uuid PRIMARY KEY, name text NOT NULL, district text NOT NULL,"
        " registered_at timestamptz NOT NULL, last_sequence bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS schemes ("
        " scheme_id uuid PRIMARY KEY, provider_id uuid NOT NULL, name text NOT NULL, district text NOT NULL,"
        " provision_type text NOT NULL, pathway_stage text NOT NULL, support_level text NOT NULL,"
        " support_hours_per_week double precision NOT NULL, capacity_units int NOT NULL, capacity_from date NOT NULL,"
        " opened_on date NOT NULL, max_stay_days int, target_stay_days int, last_sequence bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS schemes_by_place ON schemes (district, pathway_stage, support_level)",
        "CREATE TABLE IF NOT EXISTS placements ("
        " placement_id uuid PRIMARY KEY, case_id uuid NOT NULL, person_ref uuid NOT NULL, district text NOT NULL,"
        " placement_number int NOT NULL, scheme_id uuid NOT NULL, started_at timestamptz NOT NULL,"
        " stay_started_at timestamptz NOT NULL, last_placed_at timestamptz NOT NULL,"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended', 'broke_down')),"
        " ended_at timestamptz, bed_and_breakfast_nights int NOT NULL DEFAULT 0, last_sequence bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS placements_by_case ON placements (case_id)",
        "CREATE INDEX IF NOT EXISTS placements_open ON placements (scheme_id) WHERE status = 'open'",
        # Issue 11: each scheme's stay limits from a night on (the registration's, then each change), and every
        # stay of every placement (the part of it in one scheme), for the average stay against the target.
        "CREATE TABLE IF NOT EXISTS scheme_stay_limits ("
        " scheme_id uuid NOT NULL, effective_from date NOT NULL, max_stay_days int, target_stay_days int,"
        " PRIMARY KEY (scheme_id, effective_from))",
        "CREATE TABLE IF NOT EXISTS stays ("
        " placement_id uuid NOT NULL, scheme_id uuid NOT NULL, district text NOT NULL,"
        " started_at timestamptz NOT NULL, left_at timestamptz, PRIMARY KEY (placement_id, started_at))",
        "CREATE INDEX IF NOT EXISTS stays_by_scheme ON stays (scheme_id, started_at)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, seq = recorded.event, recorded.sequence
        if isinstance(event, ProviderRegistered):
            await conn.execute(
                "INSERT INTO providers (provider_id, name, district, registered_at, last_sequence)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider_id) DO NOTHING",
                event.provider_id, event.name, event.district, event.occurred_at, seq)
        elif isinstance(event, SchemeRegistered):
            await conn.execute(
                "INSERT INTO schemes (scheme_id, provider_id, name, district, provision_type, pathway_stage,"
                " support_level, support_hours_per_week, capacity_units, capacity_from, opened_on, max_stay_days,"
                " target_stay_days, last_sequence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)"
                " ON CONFLICT (scheme_id) DO NOTHING",
                event.scheme_id, event.provider_id, event.name, event.district, event.provision_type.value,
                event.pathway_stage.value, event.support_level.value, event.support_hours_per_week,
                event.capacity_units, event.opened_on, event.max_stay_days, event.target_stay_days, seq)
            await self._limits_from(conn, event.scheme_id, event.opened_on, event.max_stay_days,
                                    event.target_stay_days)
        elif isinstance(event, SchemeStayLimitsChanged):
            await self._update("schemes", "scheme_id", conn, event.scheme_id, seq,
                               "max_stay_days = $3, target_stay_days = $4", event.max_stay_days,
                               event.target_stay_days)
            await self._limits_from(conn, event.scheme_id, event.effective_from, event.max_stay_days,
                                    event.target_stay_days)
        elif isinstance(event, SchemeCapacityChanged):
            await self._update("schemes", "scheme_id", conn, event.scheme_id, seq,
                               "capacity_units = $3, capacity_from = $4", event.units, event.effective_from)
        elif isinstance(event, PlacementStarted):
            await conn.execute(
                "INSERT INTO placements (placement_id, case_id, person_ref, district, placement_number,"
                " scheme_id, started_at, stay_started_at, last_placed_at, last_sequence)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8) ON CONFLICT (placement_id) DO NOTHING",
                event.placement_id, event.case_id, event.person_ref, event.district, event.placement_number,
                event.scheme_id, event.occurred_at, seq)
            await self._stay_starts(conn, event)
        elif isinstance(event, PlacementMoved):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "scheme_id = $3, stay_started_at = $4, last_placed_at = greatest(last_placed_at, $4)",
                               event.scheme_id, event.occurred_at)
            await self._stay_ends(conn, event)
            await self._stay_starts(conn, event)
        elif isinstance(event, (PlacementEnded, PlacementBrokeDown)):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "status = $3, ended_at = $4",
                               "ended" if isinstance(event, PlacementEnded) else "broke_down", event.occurred_at)
            await self._stay_ends(conn, event)
        elif isinstance(event, BedAndBreakfastNightsRecorded):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "bed_and_breakfast_nights = bed_and_breakfast_nights + $3", event.nights)

    @staticmethod
    async def _limits_from(conn: asyncpg.Connection, scheme_id: Any, effective_from: date, max_stay_days: int | None,
                           target_stay_days: int | None) -> None:
        await conn.execute(
            "INSERT INTO scheme_stay_limits (scheme_id, effective_from, max_stay_days, target_stay_days)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (scheme_id, effective_from) DO UPDATE"
            " SET max_stay_days = EXCLUDED.max_stay_days, target_stay_days = EXCLUDED.target_stay_days",
            scheme_id, effective_from, max_stay_days, target_stay_days)

    @staticmethod
    async def _stay_starts(conn: asyncpg.Connection, event: PlacementStarted | PlacementMoved) -> None:
        await conn.execute(
            "INSERT INTO stays (placement_id, scheme_id, district, started_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (placement_id, started_at) DO NOTHING",
            event.placement_id, event.scheme_id, event.district, event.occurred_at)

    @staticmethod
    async def _stay_ends(conn: asyncpg.Connection, event: PlacementMoved | PlacementEnded | PlacementBrokeDown) -> None:
        """The open stay begun before the event ends with it (applied again, it finds none: the next is later)."""
        await conn.execute(
            "UPDATE stays SET left_at = $2 WHERE placement_id = $1 AND left_at IS NULL AND started_at < $2",
            event.placement_id, event.occurred_at)

    async def _update(self, table: str, key: str, conn: asyncpg.Connection, row_id: Any, sequence: int,
                      assignments: str, *values: Any) -> None:
        await conn.execute(
            f"UPDATE {table} SET {assignments}, last_sequence = $2 WHERE {key} = $1"
            " AND last_sequence < $2", row_id, sequence, *values)


async def providers(conn: asyncpg.Connection, district: str | None, schema: str = SCHEMA) -> list[dict]:
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.providers WHERE ($1::text IS NULL OR district = $1) ORDER BY name, provider_id",
        district)
    return [dict(row) for row in rows]


async def schemes_matching(conn: asyncpg.Connection, *, district: str | None = None,
                           pathway_stage: str | None = None, support_level: str | None = None,
                           provision_type: str | None = None, schema: str = SCHEMA) -> list[dict]:
    rows = await conn.fetch(
        f"SELECT s.*, p.name AS provider_name FROM {schema}.schemes s"
        f" LEFT JOIN {schema}.providers p USING (provider_id)"
        " WHERE ($1::text IS NULL OR s.district = $1) AND ($2::text IS NULL OR s.pathway_stage = $2)"
        " AND ($3::text IS NULL OR s.support_level = $3) AND ($4::text IS NULL OR s.provision_type = $4)"
        " ORDER BY s.district, s.pathway_stage, s.name, s.scheme_id",
        district, pathway_stage, support_level, provision_type)
    return [dict(row) for row in rows]


async def stays_over_limit(conn: asyncpg.Connection, *, today: date, district: str | None,
                           schema: str = SCHEMA) -> list[dict]:
    """Open stays that have lasted longer than their scheme's maximum stay, longest over first: the maximum in
    force on the night the stay began (the terms the young person was placed on). A target is an average and is
    never applied to one stay (see `average_stays`). Days are whole UTC days from the night the stay began to
    `today`."""
    rows = await conn.fetch(
        "SELECT p.placement_id, p.case_id, p.person_ref, p.district, p.scheme_id, p.stay_started_at,"
        " s.name AS scheme_name, s.district AS scheme_district, s.provision_type, s.pathway_stage,"
        " l.max_stay_days, l.target_stay_days, l.effective_from AS limits_from,"
        " $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date AS days_in_scheme"
        f" FROM {schema}.placements p JOIN {schema}.schemes s USING (scheme_id)"
        f" CROSS JOIN LATERAL (SELECT * FROM {schema}.scheme_stay_limits l WHERE l.scheme_id = p.scheme_id"
        "   AND l.effective_from <= (p.stay_started_at AT TIME ZONE 'UTC')::date"
        "   ORDER BY l.effective_from DESC LIMIT 1) l"
        " WHERE p.status = 'open' AND l.max_stay_days IS NOT NULL"
        " AND $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date > l.max_stay_days"
        " AND ($2::text IS NULL OR p.district = $2)"
        " ORDER BY $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date - l.max_stay_days DESC, p.placement_id",
        today, district)
    return [dict(row) for row in rows]


async def average_stays(conn: asyncpg.Connection, *, today: date, scheme_district: str | None,
                        scheme_id: Any = None, schema: str = SCHEMA) -> list[dict]:
    """Each scheme's stays against its target, one row per period of its stay limits: the stays that began
    while those limits were in force, their count and average length, completed (left) and ongoing (to
    `today`) apart and together. Whole UTC days from the night a stay began to the day it ended."""
    rows = await conn.fetch(
        "WITH periods AS ("
        "  SELECT l.*, lead(l.effective_from) OVER (PARTITION BY l.scheme_id ORDER BY l.effective_from) AS until"
        f"  FROM {schema}.scheme_stay_limits l),"
        " lengths AS ("
        "  SELECT st.scheme_id, (st.started_at AT TIME ZONE 'UTC')::date AS from_night,"
        "   st.left_at IS NOT NULL AS has_left,"
        "   coalesce((st.left_at AT TIME ZONE 'UTC')::date, $1::date)"
        "   - (st.started_at AT TIME ZONE 'UTC')::date AS days"
        f"  FROM {schema}.stays st)"
        " SELECT s.scheme_id, s.name AS scheme_name, s.district AS scheme_district, s.provision_type,"
        " s.pathway_stage, p.effective_from AS limits_from, p.until AS limits_until, p.max_stay_days,"
        " p.target_stay_days,"
        " count(x.days) FILTER (WHERE x.has_left) AS completed_stays,"
        " avg(x.days) FILTER (WHERE x.has_left)::float AS average_completed_days,"
        " count(x.days) FILTER (WHERE NOT x.has_left) AS ongoing_stays,"
        " avg(x.days) FILTER (WHERE NOT x.has_left)::float AS average_ongoing_days,"
        " count(x.days) AS stays, avg(x.days)::float AS average_days"
        f" FROM {schema}.schemes s JOIN periods p USING (scheme_id)"
        " LEFT JOIN lengths x ON x.scheme_id = s.scheme_id AND x.from_night >= p.effective_from"
        "  AND (p.until IS NULL OR x.from_night < p.until)"
        " WHERE ($2::text IS NULL OR s.district = $2) AND ($3::uuid IS NULL OR s.scheme_id = $3)"
        " GROUP BY s.scheme_id, s.name, s.district, s.provision_type, s.pathway_stage, p.effective_from, p.until,"
        " p.max_stay_days, p.target_stay_days"
        " ORDER BY s.district, s.name, s.scheme_id, p.effective_from",
        today, scheme_district, scheme_id)
    return [dict(row) for row in rows]


async def cases_awaiting_placement(conn: asyncpg.Connection, *, district: str | None,
                                   schema: str = SCHEMA) -> list[dict]:
    """Open cases whose latest panel decision allocated a service, with no placement started or moved into
    since: longest waiting first. A young person in an emergency bed since before the panel is still awaiting."""
    rows = await conn.fetch(
        "SELECT c.case_id, c.person_ref, c.district, c.cohort, c.support_level, c.priority_band,"
        " c.last_panel_date, c.allocated_at, cur.placement_id AS current_placement_id,"
        " cur.scheme_id AS current_scheme_id"
        f" FROM {schema}.known_cases c"
        f" LEFT JOIN {schema}.placements cur ON cur.case_id = c.case_id AND cur.status = 'open'"
        " WHERE c.status = 'open' AND c.allocated_at IS NOT NULL AND ($1::text IS NULL OR c.district = $1)"
        f" AND NOT EXISTS (SELECT 1 FROM {schema}.placements p"
        "                  WHERE p.case_id = c.case_id AND p.last_placed_at >= c.allocated_at)"
        " ORDER BY c.allocated_at, c.case_id",
        district)
    return [dict(row) for row in rows]


async def known_case(conn: asyncpg.Connection, case_id: Any, schema: str = SCHEMA) -> dict | None:
    row = await conn.fetchrow(f"SELECT * FROM {schema}.known_cases WHERE case_id = $1", case_id)
    return dict(row) if row else None
