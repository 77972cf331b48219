"""The placement service's read model of its own events: the catalogue, and each placement's current stay.

`PlacementReadModel` follows the placement service's own store. It answers the questions that need every
scheme or placement at once: the catalogue by district, stage and support level; the stays over their length-
of-stay limit; the cases a panel allocated a service that are still awaiting a placement. Decisions never read
it: capacity and overlaps are decided on the aggregates.
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
)
from shared.projections import Projection, Recorded, event_types

SCHEMA = "placement"


class PlacementReadModel(Projection):
    """Keeps the catalogue and each placement's current stay from the placement service's own events.

    Unit lettings are not kept here (occupancy comes from the scheme aggregates); every update is guarded
    by the position of the last event applied to the row, so applying an event again changes nothing."""

    name = "placements"
    follows = {"placement": event_types([ProviderRegistered, SchemeRegistered, SchemeCapacityChanged,
                                         PlacementStarted, PlacementMoved, PlacementEnded, PlacementBrokeDown,
                                         BedAndBreakfastNightsRecorded])}
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
        elif isinstance(event, PlacementMoved):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "scheme_id = $3, stay_started_at = $4, last_placed_at = greatest(last_placed_at, $4)",
                               event.scheme_id, event.occurred_at)
        elif isinstance(event, (PlacementEnded, PlacementBrokeDown)):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "status = $3, ended_at = $4",
                               "ended" if isinstance(event, PlacementEnded) else "broke_down", event.occurred_at)
        elif isinstance(event, BedAndBreakfastNightsRecorded):
            await self._update("placements", "placement_id", conn, event.placement_id, seq,
                               "bed_and_breakfast_nights = bed_and_breakfast_nights + $3", event.nights)

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


async def stays_over_limit(conn: asyncpg.Connection, *, today: date, limit: str, district: str | None,
                           schema: str = SCHEMA) -> list[dict]:
    """Open stays that have lasted longer than their scheme's `limit` ("max_stay_days" or "target_stay_days"),
    longest over first. Days are whole UTC days from the night the stay began to `today`."""
    if limit not in ("max_stay_days", "target_stay_days"):
        raise ValueError(f"no such limit {limit!r}")
    rows = await conn.fetch(
        f"SELECT p.placement_id, p.case_id, p.person_ref, p.district, p.scheme_id, p.stay_started_at,"
        " s.name AS scheme_name, s.district AS scheme_district, s.provision_type, s.pathway_stage,"
        f" s.max_stay_days, s.target_stay_days, s.{limit} AS limit_days,"
        " $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date AS days_in_scheme"
        f" FROM {schema}.placements p JOIN {schema}.schemes s USING (scheme_id)"
        f" WHERE p.status = 'open' AND s.{limit} IS NOT NULL"
        f" AND $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date > s.{limit}"
        " AND ($2::text IS NULL OR p.district = $2)"
        f" ORDER BY $1::date - (p.stay_started_at AT TIME ZONE 'UTC')::date - s.{limit} DESC, p.placement_id",
        today, district)
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
