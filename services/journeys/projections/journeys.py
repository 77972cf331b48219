"""The journey read model: each case and the ordered steps of its journey, built from every service's events; what
each stay cost (from the finance service's `CostAccrued`); and which young people's journey summaries
(services/journeys/summaries.py) are waiting to be made again because their steps, cases or costs changed.

One projection for all of it, so a rebuild replays steps, costs and summaries together and nothing is marked in a
table another rebuild is replacing."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from services.journeys.summaries import SUMMARY_TABLES, mark_waiting
from shared.contracts import Event
from shared.contracts.finance import CostAccrued
from shared.contracts.placement import EVENTS as PLACEMENT_EVENTS
from shared.contracts.placement import NO_CASE, SchemeRegistered, SchemeStayLimitsChanged
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
    a few statements: the cases' changes in order, then every step at once (steps depend on no case row), then each
    stay-month's cost, then the young people whose summaries must be made again."""

    name = "journeys"
    version = 2
    follows = {"referral": event_types(REFERRAL_EVENTS), "placement": event_types(PLACEMENT_EVENTS),
               "finance": event_types([CostAccrued])}
    tables = [
        "CREATE TABLE IF NOT EXISTS case_journeys ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, district text NOT NULL, cohort text,"
        " gateway text, referred_at timestamptz, status text NOT NULL DEFAULT 'open')",
        "CREATE TABLE IF NOT EXISTS journey_steps ("
        " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, event_type text NOT NULL, service text NOT NULL,"
        " district text NOT NULL, occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,"
        " stream text NOT NULL, stream_sequence bigint NOT NULL, facts jsonb NOT NULL)",
        "CREATE INDEX IF NOT EXISTS journey_steps_by_case ON journey_steps (case_id, occurred_at, recorded_at)",
        "CREATE INDEX IF NOT EXISTS case_journeys_by_person ON case_journeys (person_ref)",
        "CREATE TABLE IF NOT EXISTS person_links ("
        " event_id uuid PRIMARY KEY, case_id uuid NOT NULL, from_person uuid NOT NULL, to_person uuid NOT NULL,"
        " recorded_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS person_links_from ON person_links (from_person)",
        "CREATE TABLE IF NOT EXISTS stay_costs ("
        " stay_id uuid NOT NULL, month date NOT NULL, case_id uuid NOT NULL, contract_id uuid, days int NOT NULL,"
        " rent bigint NOT NULL, service_charge bigint NOT NULL, support bigint NOT NULL, held_back bigint NOT NULL,"
        " by_stream jsonb NOT NULL DEFAULT '{}', version int NOT NULL, event_id uuid NOT NULL,"
        " PRIMARY KEY (stay_id, month))",
        "CREATE INDEX IF NOT EXISTS stay_costs_by_case ON stay_costs (case_id)",
        "CREATE TABLE IF NOT EXISTS scheme_stay_limits ("
        " scheme_id uuid NOT NULL, effective_from date NOT NULL, max_stay_days int, target_stay_days int,"
        " recorded_at timestamptz NOT NULL, PRIMARY KEY (scheme_id, effective_from))",
        *SUMMARY_TABLES,
    ]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[Recorded]) -> None:
        steps = [recorded for recorded in batch if recorded.event.case_id != NO_CASE  # catalogue events
                 and not isinstance(recorded.event, CostAccrued)]
        costs = [recorded.event for recorded in batch if isinstance(recorded.event, CostAccrued)]
        await execute_in_runs(conn, (change for recorded in steps for change in case_changes(recorded.event)))
        await conn.executemany(
            "INSERT INTO journey_steps (event_id, case_id, event_type, service, district,"
            " occurred_at, recorded_at, stream, stream_sequence, facts)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
            [step_of(recorded) for recorded in steps])
        if costs:
            await conn.executemany(
                "INSERT INTO stay_costs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                " ON CONFLICT (stay_id, month) DO UPDATE SET contract_id = excluded.contract_id,"
                " days = excluded.days, rent = excluded.rent, service_charge = excluded.service_charge,"
                " support = excluded.support, held_back = excluded.held_back, by_stream = excluded.by_stream,"
                " version = excluded.version, event_id = excluded.event_id WHERE stay_costs.version < excluded.version",
                [stay_cost_of(event) for event in costs])
        links = [recorded.event for recorded in steps if isinstance(recorded.event, (PersonLinked, PersonUnlinked))]
        if links:
            await conn.executemany(
                "INSERT INTO person_links VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                [(event.event_id, event.case_id, event.previous_person_ref if isinstance(event, PersonLinked)
                  else event.unlinked_from, event.person_ref, event.recorded_at) for event in links])
        limits = [recorded.event for recorded in batch
                  if isinstance(recorded.event, (SchemeRegistered, SchemeStayLimitsChanged))]
        if limits:
            await conn.executemany(
                "INSERT INTO scheme_stay_limits VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scheme_id, effective_from)"
                " DO UPDATE SET max_stay_days = excluded.max_stay_days,"
                " target_stay_days = excluded.target_stay_days, recorded_at = excluded.recorded_at",
                [(event.scheme_id, event.opened_on if isinstance(event, SchemeRegistered) else event.effective_from,
                  event.max_stay_days, event.target_stay_days, event.recorded_at) for event in limits])
        changed_schemes = [str(event.scheme_id) for event in limits if isinstance(event, SchemeStayLimitsChanged)]
        await mark_waiting(conn, {recorded.event.case_id for recorded in batch if recorded.event.case_id != NO_CASE},
                           {link.previous_person_ref if isinstance(link, PersonLinked) else link.unlinked_from
                            for link in links}, changed_schemes)


def stay_cost_of(event: CostAccrued) -> tuple:
    """A stay-month's cost row: what the month cost by part, and by funding stream (`{}`: not split)."""
    by_stream = {str(stream): pence for stream, pence in event.cost.by_stream.items()}
    return (event.stay_id, event.month, event.case_id, event.contract_id, event.days, event.cost.rent,
            event.cost.service_charge, event.cost.support, event.held_back, json.dumps(by_stream),
            event.aggregate_version, event.event_id)


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
