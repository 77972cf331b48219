"""Emergency placements made before a panel allocated a service: the referral service learns them from the
placement service's events, so the next panel is told of them (see the panel agenda in caseload.py)."""

from __future__ import annotations

import asyncpg

from shared.contracts.placement import PlacementStarted
from shared.contracts.placement_vocabulary import PlacementRoute
from shared.projections import Projection, Recorded, event_types


class EmergencyPlacementsProjection(Projection):
    """Keeps the placements made before a panel allocated a service (from the placement service's events),
    so the panel agenda can report them to the next panel."""

    name = "emergency_placements"
    follows = {"placement": event_types([PlacementStarted])}
    tables = [
        "CREATE TABLE IF NOT EXISTS emergency_placements ("
        " placement_id uuid PRIMARY KEY, case_id uuid NOT NULL, district text NOT NULL,"
        " provision_type text NOT NULL, started_at timestamptz NOT NULL)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, PlacementStarted) and event.route is PlacementRoute.emergency:
            await conn.execute(
                "INSERT INTO emergency_placements"
                " (placement_id, case_id, district, provision_type, started_at) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (placement_id) DO NOTHING",
                event.placement_id, event.case_id, event.district, event.provision_type.value, event.occurred_at)
