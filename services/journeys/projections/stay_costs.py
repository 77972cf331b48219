"""What each stay of a journey cost, from the finance service's `CostAccrued` events: one row per stay and month
(a later event for the same stay and month, after a price changed back in time, replaces the earlier). A journey's
placement steps (the events that began a stay) carry their stay's cost."""

from __future__ import annotations

import asyncpg

from shared.contracts.finance import CostAccrued
from shared.projections import Projection, Recorded, event_types


class StayCosts(Projection):
    name = "stay_costs"
    follows = {"finance": event_types([CostAccrued])}
    tables = [
        "CREATE TABLE IF NOT EXISTS stay_costs ("
        " stay_id uuid NOT NULL, month date NOT NULL, case_id uuid NOT NULL, contract_id uuid, days int NOT NULL,"
        " rent bigint NOT NULL, service_charge bigint NOT NULL, support bigint NOT NULL, held_back bigint NOT NULL,"
        " version int NOT NULL, event_id uuid NOT NULL, PRIMARY KEY (stay_id, month))",
        "CREATE INDEX IF NOT EXISTS stay_costs_by_case ON stay_costs (case_id)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        await conn.execute(
            "INSERT INTO stay_costs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (stay_id, month) DO UPDATE SET contract_id = excluded.contract_id, days = excluded.days,"
            " rent = excluded.rent, service_charge = excluded.service_charge, support = excluded.support,"
            " held_back = excluded.held_back, version = excluded.version, event_id = excluded.event_id"
            " WHERE stay_costs.version < excluded.version",
            event.stay_id, event.month, event.case_id, event.contract_id, event.days, event.cost.rent,
            event.cost.service_charge, event.cost.support, event.held_back, event.aggregate_version, event.event_id)


async def costs_of_case(conn: asyncpg.Connection, case_id) -> dict[str, dict]:
    """Each stay's cost so far (pence, by part), keyed by the stay's id (the event that began it)."""
    rows = await conn.fetch(
        "SELECT stay_id, sum(days)::bigint AS days, sum(rent)::bigint AS rent,"
        " sum(service_charge)::bigint AS service_charge, sum(support)::bigint AS support,"
        " sum(held_back)::bigint AS held_back, max(month) AS to_month,"
        " array_agg(event_id ORDER BY month) AS cost_events"
        " FROM journeys.stay_costs WHERE case_id = $1 GROUP BY stay_id", case_id)
    return {str(row["stay_id"]): {
        "pence": row["rent"] + row["service_charge"] + row["support"], "rent": row["rent"],
        "service_charge": row["service_charge"], "support": row["support"], "held_back": row["held_back"],
        "days": row["days"], "to_month": row["to_month"].isoformat(),
        "cost_events": [str(event_id) for event_id in row["cost_events"]]} for row in rows}
