"""The read model of departures from schemes, for the data-quality count of destinations not known.

Kent counts departures per service (a move to another scheme is a departure from the first) and counts
departures whose destination is not known as a data-quality measure [004]. `DeparturesReadModel` follows the
placement service's own store and keeps one row per departure: a move (its destination, the next scheme, is
known), a move-on, a breakdown, or the end of a floating support episode. Departures recorded before
`other_or_not_known` was split count as not known (an old "other" cannot be told apart).
"""

from __future__ import annotations

from datetime import date

import asyncpg

from shared.contracts.placement import FloatingSupportEnded, PlacementBrokeDown, PlacementEnded, PlacementMoved
from shared.contracts.placement_vocabulary import Destination
from shared.projections import Projection, Recorded, event_types

SCHEMA = "placement"


class DeparturesReadModel(Projection):
    """One row per departure from a scheme, keyed by the event that recorded it (applying it again changes
    nothing)."""

    name = "departures"
    follows = {"placement": event_types([PlacementMoved, PlacementEnded, PlacementBrokeDown, FloatingSupportEnded])}
    tables = [
        "CREATE TABLE IF NOT EXISTS departures ("
        " event_id uuid PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('moved', 'ended', 'broke_down',"
        " 'floating_support_ended')), scheme_id uuid NOT NULL, district text NOT NULL,"
        " departed_on date NOT NULL, planned boolean NOT NULL, destination text)",
        "CREATE INDEX IF NOT EXISTS departures_by_scheme ON departures (scheme_id, departed_on)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, PlacementMoved):
            row = ("moved", event.from_scheme_id, event.planned, None)
        elif isinstance(event, PlacementEnded):
            row = ("ended", event.scheme_id, event.planned, event.destination.value)
        elif isinstance(event, PlacementBrokeDown):
            row = ("broke_down", event.scheme_id, False, event.destination.value)
        elif isinstance(event, FloatingSupportEnded):
            row = ("floating_support_ended", event.scheme_id, event.planned, event.destination.value)
        else:
            return
        kind, scheme_id, planned, destination = row
        await conn.execute(
            "INSERT INTO departures (event_id, kind, scheme_id, district, departed_on, planned, destination)"
            " VALUES ($1, $2, $3, $4, ($5::timestamptz AT TIME ZONE 'UTC')::date, $6, $7)"
            " ON CONFLICT (event_id) DO NOTHING",
            event.event_id, kind, scheme_id, event.district, event.occurred_at, planned, destination)


async def destinations_not_known(conn: asyncpg.Connection, *, district: str | None = None,
                                 first_day: date | None = None, last_day: date | None = None,
                                 schema: str = SCHEMA) -> list[dict]:
    """Per scheme: departures between `first_day` and `last_day` (both included; none: unbounded) of cases of
    `district`, and how many had a destination not known. Schemes with most not known first."""
    rows = await conn.fetch(
        "SELECT d.scheme_id, s.name AS scheme_name, s.district AS scheme_district, s.provision_type,"
        " count(*) AS departures, count(*) FILTER (WHERE d.destination = $4) AS destination_not_known"
        f" FROM {schema}.departures d LEFT JOIN {schema}.schemes s USING (scheme_id)"
        " WHERE ($1::text IS NULL OR d.district = $1) AND ($2::date IS NULL OR d.departed_on >= $2)"
        " AND ($3::date IS NULL OR d.departed_on <= $3)"
        " GROUP BY d.scheme_id, s.name, s.district, s.provision_type"
        " ORDER BY count(*) FILTER (WHERE d.destination = $4) DESC, d.scheme_id",
        district, first_day, last_day, Destination.not_known.value)
    return [dict(row) for row in rows]
