"""Stays, as the finance service learns them from the placement service's events: what accrues cost.

One row per stay in a scheme: a placement's time in one scheme (PlacementStarted begins one; PlacementMoved ends it
and begins the next, in the new scheme; PlacementEnded and PlacementBrokeDown end it), or a floating support
episode (FloatingSupportStarted, FloatingSupportEnded with the hours of support given). A stay's id is the
`event_id` of the event that began it (the outcomes service's support episode has the same id, so payment by
results finds the stay an outcome was achieved in). Nights are UTC dates: a stay from night N that ended on day M
occupied the nights N..M-1. B&B is a stay in a B&B scheme, costed at that scheme's own (spot) price.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.contracts.placement import (
    FloatingSupportEnded,
    FloatingSupportStarted,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
)
from shared.contracts.placement_vocabulary import ProvisionType
from shared.projections import Projection, Recorded, event_types


def night_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class Stays(Projection):
    """Begins and ends stays; applying an event again changes nothing (a stay is keyed by the event that began it,
    and only an open one is ended)."""

    name = "stays"
    follows = {"placement": event_types([PlacementStarted, PlacementMoved, PlacementEnded, PlacementBrokeDown,
                                         FloatingSupportStarted, FloatingSupportEnded])}
    tables = [
        "CREATE TABLE IF NOT EXISTS stays ("
        " stay_id uuid PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('placement', 'floating_support')),"
        " placement_id uuid, floating_support_id uuid, case_id uuid NOT NULL, person_ref uuid NOT NULL,"
        " district text NOT NULL, scheme_id uuid NOT NULL, provider_id uuid NOT NULL, provision_type text NOT NULL,"
        " first_night date NOT NULL, until date, ended_by uuid, hours_delivered double precision)",
        "CREATE INDEX IF NOT EXISTS stays_open_placement ON stays (placement_id) WHERE until IS NULL",
        "CREATE INDEX IF NOT EXISTS stays_floating ON stays (floating_support_id)",
        "CREATE INDEX IF NOT EXISTS stays_by_scheme ON stays (scheme_id, first_night)",
        "CREATE INDEX IF NOT EXISTS stays_by_case ON stays (case_id)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, PlacementMoved):
            await self._end(conn, "placement_id", event.placement_id, event)
            await self._begin(conn, event, "placement", event.provider_id, event.provision_type,
                              placement_id=event.placement_id)
        elif isinstance(event, PlacementStarted):
            await self._begin(conn, event, "placement", event.provider_id, event.provision_type,
                              placement_id=event.placement_id)
        elif isinstance(event, (PlacementEnded, PlacementBrokeDown)):
            await self._end(conn, "placement_id", event.placement_id, event)
        elif isinstance(event, FloatingSupportStarted):
            await self._begin(conn, event, "floating_support", event.provider_id, ProvisionType.floating_support,
                              floating_support_id=event.episode_id)
        elif isinstance(event, FloatingSupportEnded):
            await self._end(conn, "floating_support_id", event.episode_id, event, event.hours_delivered)

    async def _begin(self, conn: asyncpg.Connection, event: Any, kind: str, provider_id: UUID,
                     provision_type: ProvisionType, placement_id: UUID | None = None,
                     floating_support_id: UUID | None = None) -> None:
        await conn.execute(
            "INSERT INTO stays (stay_id, kind, placement_id, floating_support_id, case_id, person_ref, district,"
            " scheme_id, provider_id, provision_type, first_night)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (stay_id) DO NOTHING",
            event.event_id, kind, placement_id, floating_support_id, event.case_id, event.person_ref, event.district,
            event.scheme_id, provider_id, provision_type.value, night_of(event.occurred_at))

    async def _end(self, conn: asyncpg.Connection, key: str, value: UUID, event: Any,
                   hours_delivered: float | None = None) -> None:
        await conn.execute(
            f"UPDATE stays SET until = $3, ended_by = $2, hours_delivered = $4"
            f" WHERE {key} = $1 AND until IS NULL AND stay_id <> $2",
            value, event.event_id, night_of(event.occurred_at), hours_delivered)


async def stays_between(conn: asyncpg.Connection, first_day: date, last_day: date, *, district: str | None = None,
                        case_id: UUID | None = None, schema: str = "finance") -> list[asyncpg.Record]:
    """The stays with a night between the two days (both included), oldest first."""
    return list(await conn.fetch(
        f"SELECT * FROM {schema}.stays WHERE first_night <= $2 AND (until IS NULL OR until > $1)"
        " AND ($3::text IS NULL OR district = $3) AND ($4::uuid IS NULL OR case_id = $4)"
        " ORDER BY first_night, stay_id", first_day, last_day, district, case_id))
