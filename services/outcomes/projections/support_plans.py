"""Support plans and their outcomes, from the outcomes service's own events.

`support_plans`: one row per episode with a plan (its facts as the plan's events carried them, the young person's
independence as last recorded for KPI1, and whether the departure outcomes are in). `plan_outcomes`: one row per
outcome a plan needed, with its latest result (at a review or at departure) and the event that recorded it: the
outcomes table (kpis.py) counts these.
"""

from __future__ import annotations

import asyncpg

from shared.contracts.outcomes import DepartureOutcomesRecorded, SupportPlanAgreed, SupportPlanReviewed
from shared.projections import Projection, Recorded, event_types


class SupportPlans(Projection):
    """Every update is guarded by the plan's version, so applying an event again, or an older one, changes nothing."""

    name = "support_plans"
    follows = {"outcomes": event_types([SupportPlanAgreed, SupportPlanReviewed, DepartureOutcomesRecorded])}
    tables = [
        "CREATE TABLE IF NOT EXISTS support_plans ("
        " episode_id uuid PRIMARY KEY, case_id uuid NOT NULL, person_ref uuid NOT NULL, district text NOT NULL,"
        " scheme_id uuid NOT NULL, provider_id uuid NOT NULL, service_type text NOT NULL,"
        " agreed_at timestamptz NOT NULL, agreed_event_id uuid NOT NULL,"
        " independence text, independence_at timestamptz, independence_event_id uuid,"
        " departed_at timestamptz, departure_outcomes_event_id uuid, departure_event_id uuid,"
        " version int NOT NULL)",
        "CREATE TABLE IF NOT EXISTS plan_outcomes ("
        " episode_id uuid NOT NULL, outcome text NOT NULL, needed_event_id uuid NOT NULL,"
        " result text, result_at timestamptz, result_kind text CHECK (result_kind IN ('review', 'departure')),"
        " result_event_id uuid, PRIMARY KEY (episode_id, outcome))",
        "CREATE INDEX IF NOT EXISTS support_plans_departed ON support_plans (departed_at)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, SupportPlanAgreed):
            inserted = await conn.fetchval(
                "INSERT INTO support_plans (episode_id, case_id, person_ref, district, scheme_id, provider_id,"
                " service_type, agreed_at, agreed_event_id, version)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (episode_id) DO NOTHING"
                " RETURNING 1",
                event.episode_id, event.case_id, event.person_ref, event.district, event.scheme_id,
                event.provider_id, event.service_type.value, event.occurred_at, event.event_id,
                event.aggregate_version)
            if inserted:
                await self._needed(conn, event.episode_id, event.outcomes_needed, event.event_id)
            return
        if not isinstance(event, (SupportPlanReviewed, DepartureOutcomesRecorded)):
            return
        departure = isinstance(event, DepartureOutcomesRecorded)
        updated = await conn.fetchval(
            "UPDATE support_plans SET version = $2,"
            " independence = coalesce($3, independence),"
            " independence_at = CASE WHEN $3::text IS NULL THEN independence_at ELSE $4 END,"
            " independence_event_id = CASE WHEN $3::text IS NULL THEN independence_event_id ELSE $5 END,"
            " departed_at = CASE WHEN $6 THEN $4 ELSE departed_at END,"
            " departure_outcomes_event_id = CASE WHEN $6 THEN $5 ELSE departure_outcomes_event_id END,"
            " departure_event_id = coalesce($7, departure_event_id)"
            " WHERE episode_id = $1 AND version < $2 RETURNING 1",
            event.episode_id, event.aggregate_version, event.independence.value if event.independence else None,
            event.occurred_at, event.event_id, departure, event.departure_event_id if departure else None)
        if not updated:
            return
        if isinstance(event, SupportPlanReviewed):
            await self._needed(conn, event.episode_id, event.outcomes_added, event.event_id)
        await conn.executemany(
            "UPDATE plan_outcomes SET result = $3, result_at = $4, result_kind = $5, result_event_id = $6"
            " WHERE episode_id = $1 AND outcome = $2",
            [(event.episode_id, outcome.value, result.value, event.occurred_at,
              "departure" if departure else "review", event.event_id) for outcome, result in event.results.items()])

    async def _needed(self, conn: asyncpg.Connection, episode_id, outcomes, event_id) -> None:
        await conn.executemany(
            "INSERT INTO plan_outcomes (episode_id, outcome, needed_event_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (episode_id, outcome) DO NOTHING",
            [(episode_id, outcome.value, event_id) for outcome in outcomes])
