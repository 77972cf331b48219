"""The pathway map and a young person's journey, read from the journeys service's own read models: `case_journeys`
and `journey_steps` (the `journeys` projection) and `stay_costs` (definitions: services/journeys/pathways.py).

Filters choose cases (district, the cohort and gateway of the referral, the referral's day); a young person's
journey is their chosen cases together (`case_journeys.person_ref` is each case's current person). The `flag` filter
(one of `FLAGS_FOR_ANALYSTS`: UASC, teenage parent, youth justice; never a safeguarding flag, which
RestrictedFlagRaised keeps in the referral service) then keeps the journeys with a FlagRaised of that flag, or a
referral given it, among their steps as known on `as_of` (whether or not it has ended since). `as_of` shows
what was known at the end of that day (UTC): steps recorded later are left out, a case whose referral was recorded
later is left out, a person link recorded later is undone (the case belonged to its earlier person then), and stay
costs count the months up to as_of of the stays begun by steps known then (as costed now: a price changed back in
time since then is in them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.journeys.pathways import Journey, Step, figures_of, staged
from shared.contracts.vocabulary import Flag

FLAGS_FOR_ANALYSTS = (Flag.uasc, Flag.teenage_parent, Flag.youth_justice)
"""The flags a pathway map may be filtered by (a care leaver is a cohort: `cohort=care_leaver`)."""


@dataclass(frozen=True)
class Chosen:
    """Which cases a pathway map is made of, and as the system knew them on which day."""

    district: str | None = None
    cohort: str | None = None
    gateway: str | None = None
    referred_from: date | None = None
    referred_to: date | None = None
    as_of: date | None = None
    flag: str | None = None
    legal_status: str | None = None
    age_band: str | None = None
    """16-17, 18-21 or 22-25 on the day of the referral."""
    area: str | None = None
    """A commissioning area of the district register: the young people first referred in its districts."""

    @property
    def recorded_before(self) -> datetime | None:
        return _midnight(self.as_of + timedelta(days=1)) if self.as_of else None


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


async def chosen_cases(conn: asyncpg.Connection, chosen: Chosen, schema: str = "journeys") -> list[asyncpg.Record]:
    """The cases the filters choose (each with its current person), oldest referral first."""
    return list(await conn.fetch(
        f"SELECT c.case_id, c.person_ref, c.district, r.occurred_at AS referred_at"
        f" FROM {schema}.case_journeys c JOIN {schema}.journey_steps r"
        f" ON r.case_id = c.case_id AND r.event_type = 'ReferralMade'"
        " WHERE ($1::text IS NULL OR c.district = $1) AND ($2::text IS NULL OR r.facts->>'cohort' = $2)"
        " AND ($3::text IS NULL OR r.facts->>'gateway' = $3) AND ($4::timestamptz IS NULL OR r.occurred_at >= $4)"
        " AND ($5::timestamptz IS NULL OR r.occurred_at < $5) AND ($6::timestamptz IS NULL OR r.recorded_at < $6)"
        " ORDER BY r.occurred_at, c.case_id",
        chosen.district, chosen.cohort, chosen.gateway, _midnight(chosen.referred_from),
        _midnight(chosen.referred_to + timedelta(days=1)) if chosen.referred_to else None, chosen.recorded_before))


async def steps_of(conn: asyncpg.Connection, case_ids: Sequence[UUID], recorded_before: datetime | None = None,
                   schema: str = "journeys") -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT case_id, event_id, event_type, service, district, occurred_at, recorded_at, facts"
        f" FROM {schema}.journey_steps"
        " WHERE case_id = ANY($1::uuid[]) AND ($2::timestamptz IS NULL OR recorded_at < $2)"
        " ORDER BY occurred_at, recorded_at, stream, stream_sequence", list(case_ids), recorded_before))


async def stay_costs_of(conn: asyncpg.Connection, case_ids: Sequence[UUID], until_month: date | None = None,
                        schema: str = "journeys") -> dict[str, dict]:
    """Each stay's cost (pence, by part), keyed by its id (the event that began it), months up to `until_month`."""
    rows = await conn.fetch(
        "SELECT stay_id, sum(days)::bigint AS days, sum(rent)::bigint AS rent,"
        " sum(service_charge)::bigint AS service_charge, sum(support)::bigint AS support,"
        " sum(held_back)::bigint AS held_back, max(month) AS to_month, array_agg(by_stream) AS by_stream"
        f" FROM {schema}.stay_costs WHERE case_id = ANY($1::uuid[]) AND ($2::date IS NULL OR month <= $2)"
        " GROUP BY stay_id", list(case_ids), until_month)
    return {str(row["stay_id"]): {
        "pence": row["rent"] + row["service_charge"] + row["support"], "rent": row["rent"],
        "service_charge": row["service_charge"], "support": row["support"], "held_back": row["held_back"],
        "by_stream": by_stream_of(row), "days": row["days"], "to_month": row["to_month"].isoformat()}
        for row in rows}


def by_stream_of(row: asyncpg.Record) -> dict[str, int]:
    """A stay's cost by funding stream over its months; a month finance did not split counts as `not_split`."""
    streams: dict[str, int] = {}
    for month in row["by_stream"]:
        split = json.loads(month)
        for stream, pence in split.items():
            streams[stream] = streams.get(stream, 0) + pence
    unsplit = row["rent"] + row["service_charge"] + row["support"] - sum(streams.values())
    if unsplit:
        streams[NOT_SPLIT] = streams.get(NOT_SPLIT, 0) + unsplit
    return dict(sorted(streams.items()))


NOT_SPLIT = "not_split"
"""Cost finance published without its funding streams (a stay no contract covers, or an event from before it
split them)."""


async def persons_then(conn: asyncpg.Connection, cases: Sequence[asyncpg.Record], recorded_before: datetime | None,
                       schema: str = "journeys") -> dict[UUID, UUID]:
    """Each case's person as known before `recorded_before`: its current person, with the links and unlinks
    recorded since undone, latest first."""
    persons = {case["case_id"]: case["person_ref"] for case in cases}
    if recorded_before is None:
        return persons
    for late in await conn.fetch(
            f"SELECT case_id, event_type, facts FROM {schema}.journey_steps WHERE case_id = ANY($1::uuid[])"
            " AND event_type IN ('PersonLinked', 'PersonUnlinked') AND recorded_at >= $2"
            " ORDER BY stream_sequence DESC", list(persons), recorded_before):
        facts = json.loads(late["facts"])
        persons[late["case_id"]] = UUID(facts["previous_person_ref" if late["event_type"] == "PersonLinked"
                                              else "unlinked_from"])
    return persons


def step_of_row(row: asyncpg.Record, costs: dict[str, dict]) -> Step:
    cost = costs.get(str(row["event_id"]))
    return Step(event_type=row["event_type"], occurred_at=row["occurred_at"], facts=json.loads(row["facts"]),
                case_id=str(row["case_id"]), event_id=str(row["event_id"]),
                cost_pence=cost["pence"] if cost else None, district=row["district"],
                cost_by_stream=cost["by_stream"] if cost else {})


def flagged(journey: Journey, flag: str) -> bool:
    """Whether the journey has a FlagRaised of `flag`, or a referral given it."""
    return any((step.event_type == "FlagRaised" and step.facts.get("flag") == flag)
               or (step.event_type == "ReferralMade" and flag in (step.facts.get("flags") or ()))
               for step in journey.steps)


async def journeys_of(conn: asyncpg.Connection, chosen: Chosen = Chosen(), schema: str = "journeys") -> list[Journey]:
    """The chosen cases' journeys, one per young person (their chosen cases together), as known on `as_of`; with
    `flag`, those flagged so."""
    cases = await chosen_cases(conn, chosen, schema)
    case_ids = [case["case_id"] for case in cases]
    persons = await persons_then(conn, cases, chosen.recorded_before, schema)
    costs = await stay_costs_of(conn, case_ids, chosen.as_of, schema)
    steps: dict[UUID, list[Step]] = {}
    for row in await steps_of(conn, case_ids, chosen.recorded_before, schema):
        steps.setdefault(persons[row["case_id"]], []).append(step_of_row(row, costs))
    journeys = [Journey(str(person), tuple(person_steps)) for person, person_steps in steps.items()]
    return [journey for journey in journeys if chosen.flag is None or flagged(journey, chosen.flag)]


async def districts_of_person(conn: asyncpg.Connection, person_ref: UUID, schema: str = "journeys") -> set[str]:
    """The districts of the young person's cases (none: no case of theirs is known)."""
    rows = await conn.fetch(f"SELECT DISTINCT district FROM {schema}.case_journeys WHERE person_ref = $1", person_ref)
    return {row["district"] for row in rows}


async def young_person_journey(conn: asyncpg.Connection, person_ref: UUID, *, today: date,
                               district: str | None = None, as_of: date | None = None,
                               schema: str = "journeys") -> dict[str, Any] | None:
    """One ordered timeline of every case of the young person (of one district, if given): each step with its stage
    and the cost of the stay it began; as known at the end of `as_of`, if given (their cases then, the steps recorded
    by then, the stays' costs of the months up to then). None when no such case is known."""
    recorded_before = _midnight(as_of + timedelta(days=1)) if as_of else None
    cases = list(await conn.fetch(
        f"SELECT c.case_id, c.person_ref, c.district, c.cohort, c.gateway, c.referred_at, c.status"
        f" FROM {schema}.case_journeys c WHERE (c.person_ref = $1 OR c.case_id IN ("
        f"  SELECT case_id FROM {schema}.person_links WHERE $3::timestamptz IS NOT NULL AND from_person = $1"
        "   AND recorded_at >= $3))"
        " AND ($2::text IS NULL OR c.district = $2) AND ($3::timestamptz IS NULL OR EXISTS ("
        f"  SELECT 1 FROM {schema}.journey_steps r WHERE r.case_id = c.case_id AND r.event_type = 'ReferralMade'"
        "   AND r.recorded_at < $3))"
        " ORDER BY c.referred_at, c.case_id", person_ref, district, recorded_before))
    if recorded_before is not None:
        persons = await persons_then(conn, cases, recorded_before, schema)
        cases = [case for case in cases if persons[case["case_id"]] == person_ref]
    if not cases:
        return None
    case_ids = [case["case_id"] for case in cases]
    costs = await stay_costs_of(conn, case_ids, as_of, schema=schema)
    rows = await steps_of(conn, case_ids, recorded_before, schema=schema)
    by_id = {str(row["event_id"]): row for row in rows}
    timeline = staged(step_of_row(row, costs) for row in rows)
    figures = figures_of(Journey(str(person_ref), tuple(step for step, _, _ in timeline)),
                         min(as_of or today, today))
    return {
        "person_ref": str(person_ref),
        "as_of": as_of.isoformat() if as_of else None,
        "cases": [{"case_id": str(case["case_id"]), "district": case["district"], "cohort": case["cohort"],
                   "gateway": case["gateway"], "status": case["status"],
                   "referred_at": case["referred_at"].isoformat() if case["referred_at"] else None}
                  for case in cases],
        "variant": list(figures.variant),
        "open": figures.is_open,
        "end_to_end_days": figures.days,
        "steps": [{
            "case_id": step.case_id, "event_id": step.event_id, "event_type": step.event_type,
            "service": by_id[step.event_id]["service"], "occurred_at": step.occurred_at.isoformat(),
            "recorded_at": by_id[step.event_id]["recorded_at"].isoformat(),
            "stage": stage.value if stage else None, "facts": dict(step.facts),
            **({"cost": costs[step.event_id]} if step.event_id in costs else {}),
        } for step, stage, _ in timeline],
        "cost_pence": sum(costs[event_id]["pence"] for event_id in by_id if event_id in costs),
    }
