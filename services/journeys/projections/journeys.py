"""The journey read model: each case and the ordered steps of its journey, built from every service's events."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from services.journeys.projections.stay_costs import costs_of_case
from shared.contracts import Event
from shared.contracts.placement import EVENTS as PLACEMENT_EVENTS
from shared.contracts.placement import NO_CASE
from shared.contracts.referral import EVENTS as REFERRAL_EVENTS
from shared.contracts.referral import (
    AgeReached,
    CaseClosed,
    CaseReopened,
    LegalStatusChanged,
    PersonLinked,
    PersonUnlinked,
    ReferralMade,
    RestrictedFlagEnded,
    RestrictedFlagRaised,
)
from shared.projections import Projection, Recorded, Statement, event_types, execute_in_runs

ENVELOPE = set(Event.model_fields)


class JourneyProjection(Projection):
    """Adds each event as a step of its case's journey; a referral opens the journey. A batch is written in
    a few statements: the cases' changes in order, then every step at once (steps depend on no case row)."""

    name = "journeys"
    follows = {"referral": event_types(REFERRAL_EVENTS), "placement": event_types(PLACEMENT_EVENTS)}
    tables = [
        "CREATE TABLE IF NOT EXISTS case_journeys ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, district text NOT NULL, cohort text,"
        " gateway text, referred_at timestamptz, status text NOT NULL DEFAULT 'open')",
        "CREATE TABLE IF NOT EXISTS journey_steps ("
        " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, event_type text NOT NULL, service text NOT NULL,"
        " district text NOT NULL, occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,"
        " stream text NOT NULL, stream_sequence bigint NOT NULL, facts jsonb NOT NULL)",
        "CREATE INDEX IF NOT EXISTS journey_steps_by_case ON journey_steps (case_id, occurred_at, recorded_at)",
    ]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[Recorded]) -> None:
        steps = [recorded for recorded in batch if recorded.event.case_id != NO_CASE]  # catalogue events
        await execute_in_runs(conn, (change for recorded in steps for change in case_changes(recorded.event)))
        await conn.executemany(
            "INSERT INTO journey_steps (event_id, case_id, event_type, service, district,"
            " occurred_at, recorded_at, stream, stream_sequence, facts)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
            [step_of(recorded) for recorded in steps])


RESTRICTED = event_types([RestrictedFlagRaised, RestrictedFlagEnded])
"""Safeguarding flags: which one never leaves the referral service; a journey shows the flag as "restricted"."""


def step_of(recorded: Recorded) -> tuple:
    """The journey step an event adds: its type, service, dates, and its facts (the envelope aside)."""
    event = recorded.event
    facts = event.model_dump_json(exclude=ENVELOPE)
    if event.event_type in RESTRICTED:
        facts = json.dumps({**json.loads(facts), "flag": "restricted"})
    return (event.event_id, event.case_id, event.event_type, event.service, event.district, event.occurred_at,
            event.recorded_at, recorded.stream, recorded.sequence, facts)


def case_changes(event: Event) -> list[Statement]:
    """What an event changes in its case's row (most change nothing but add a step)."""
    if isinstance(event, ReferralMade):
        return [("INSERT INTO case_journeys (case_id, person_ref, district, cohort, gateway, referred_at)"
                 " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING",
                 (event.case_id, event.person_ref, event.district, event.cohort.value, event.gateway.value,
                  event.occurred_at))]
    if isinstance(event, (CaseClosed, CaseReopened)):
        return [("UPDATE case_journeys SET status = $2 WHERE case_id = $1",
                 (event.case_id, "closed" if isinstance(event, CaseClosed) else "open"))]
    if isinstance(event, (LegalStatusChanged, AgeReached)):
        return [("UPDATE case_journeys SET cohort = $2 WHERE case_id = $1", (event.case_id, event.cohort.value))]
    if isinstance(event, (PersonLinked, PersonUnlinked)):
        return [("UPDATE case_journeys SET person_ref = $2 WHERE case_id = $1", (event.case_id, event.person_ref))]
    return []


async def journey_of(conn: asyncpg.Connection, case_id) -> dict | None:
    case = await conn.fetchrow("SELECT * FROM journeys.case_journeys WHERE case_id = $1", case_id)
    if case is None:
        return None
    steps = await conn.fetch(
        "SELECT event_id, event_type, service, occurred_at, recorded_at, facts FROM journeys.journey_steps"
        " WHERE case_id = $1 ORDER BY occurred_at, recorded_at, stream_sequence", case_id)
    costs = await costs_of_case(conn, case_id)
    return {
        "case_id": str(case["case_id"]),
        "person_ref": str(case["person_ref"]),
        "district": case["district"],
        "cohort": case["cohort"],
        "gateway": case["gateway"],
        "referred_at": case["referred_at"].isoformat() if case["referred_at"] else None,
        "status": case["status"],
        "steps": [
            {
                "event_id": str(step["event_id"]),
                "event_type": step["event_type"],
                "service": step["service"],
                "occurred_at": step["occurred_at"].isoformat(),
                "recorded_at": step["recorded_at"].isoformat(),
                "facts": json.loads(step["facts"]),
                **({"cost": costs[str(step["event_id"])]} if str(step["event_id"]) in costs else {}),
            }
            for step in steps
        ],
        "cost_pence": sum(cost["pence"] for cost in costs.values()),
    }
