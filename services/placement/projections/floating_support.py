"""The read model of floating support episodes: which young people each floating support scheme supports now.

`FloatingSupportReadModel` follows the placement service's own store and keeps one row per episode. Decisions
never read it: support places are decided on the scheme aggregates, as units are for placements.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.contracts.placement import FloatingSupportEnded, FloatingSupportStarted
from shared.projections import Projection, Recorded, event_types

SCHEMA = "placement"


class FloatingSupportReadModel(Projection):
    """Keeps one row per floating support episode; every update is guarded by the position of the last event
    applied to the row, so applying an event again changes nothing."""

    name = "floating_support"
    follows = {"placement": event_types([FloatingSupportStarted, FloatingSupportEnded])}
    tables = [
        "CREATE TABLE IF NOT EXISTS floating_support_episodes ("
        " episode_id uuid PRIMARY KEY, case_id uuid NOT NULL, person_ref uuid NOT NULL, district text NOT NULL,"
        " episode_number int NOT NULL, scheme_id uuid NOT NULL, provider_id uuid NOT NULL,"
        " scheme_district text NOT NULL, started_at timestamptz NOT NULL, in_placement_id uuid,"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),"
        " ended_at timestamptz, planned boolean, destination text, last_sequence bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS floating_support_open ON floating_support_episodes (scheme_id)"
        " WHERE status = 'open'",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, seq = recorded.event, recorded.sequence
        if isinstance(event, FloatingSupportStarted):
            await conn.execute(
                "INSERT INTO floating_support_episodes (episode_id, case_id, person_ref, district, episode_number,"
                " scheme_id, provider_id, scheme_district, started_at, in_placement_id, last_sequence)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (episode_id) DO NOTHING",
                event.episode_id, event.case_id, event.person_ref, event.district, event.episode_number,
                event.scheme_id, event.provider_id, event.scheme_district, event.occurred_at, event.in_placement_id,
                seq)
        elif isinstance(event, FloatingSupportEnded):
            await conn.execute(
                "UPDATE floating_support_episodes SET status = 'ended', ended_at = $3, planned = $4,"
                " destination = $5, last_sequence = $2 WHERE episode_id = $1 AND last_sequence < $2",
                event.episode_id, seq, event.occurred_at, event.planned, event.destination.value)


async def open_floating_support(conn: asyncpg.Connection, *, district: str | None = None,
                                scheme_id: Any = None, provider_id: Any = None,
                                schema: str = SCHEMA) -> list[dict]:
    """Open episodes, by scheme (with its name and capacity from the catalogue), longest running first within
    each scheme. `district` is the case's district."""
    rows = await conn.fetch(
        "SELECT e.episode_id, e.case_id, e.person_ref, e.district, e.episode_number, e.scheme_id, e.provider_id,"
        " e.scheme_district, e.started_at, e.in_placement_id, s.name AS scheme_name,"
        " s.capacity_units AS scheme_capacity_units"
        f" FROM {schema}.floating_support_episodes e LEFT JOIN {schema}.schemes s USING (scheme_id)"
        " WHERE e.status = 'open' AND ($1::text IS NULL OR e.district = $1)"
        " AND ($2::uuid IS NULL OR e.scheme_id = $2) AND ($3::uuid IS NULL OR e.provider_id = $3)"
        " ORDER BY e.scheme_id, e.started_at, e.episode_id",
        district, scheme_id, provider_id)
    return [dict(row) for row in rows]
