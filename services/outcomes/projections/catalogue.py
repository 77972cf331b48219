"""The names of providers and schemes, from the placement service's catalogue events, so that a KPI broken down by
scheme or provider names each (the episodes carry their ids only)."""

from __future__ import annotations

import asyncpg

from shared.contracts.placement import ProviderRegistered, SchemeRegistered
from shared.projections import Projection, Recorded, event_types


class Catalogue(Projection):
    """One row per provider and per scheme; registering again (the same event applied twice) changes nothing."""

    name = "catalogue"
    follows = {"placement": event_types([ProviderRegistered, SchemeRegistered])}
    tables = [
        "CREATE TABLE IF NOT EXISTS provider_names (provider_id uuid PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS scheme_names (scheme_id uuid PRIMARY KEY, provider_id uuid NOT NULL,"
        " name text NOT NULL, district text NOT NULL, provision_type text NOT NULL)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, ProviderRegistered):
            await conn.execute("INSERT INTO provider_names VALUES ($1, $2) ON CONFLICT (provider_id) DO NOTHING",
                               event.provider_id, event.name)
        elif isinstance(event, SchemeRegistered):
            await conn.execute("INSERT INTO scheme_names VALUES ($1, $2, $3, $4, $5)"
                               " ON CONFLICT (scheme_id) DO NOTHING", event.scheme_id, event.provider_id,
                               event.name, event.district, event.provision_type.value)


async def names(conn: asyncpg.Connection, schema: str = "outcomes") -> dict[str, str]:
    """Every provider's and scheme's name, by id (as text)."""
    rows = await conn.fetch(f"SELECT provider_id::text AS id, name FROM {schema}.provider_names"
                            f" UNION ALL SELECT scheme_id::text, name FROM {schema}.scheme_names")
    return {row["id"]: row["name"] for row in rows}
