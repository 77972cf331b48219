"""Pathways for analysts: the pathway map (variants, their figures, the transitions between stages; small numbers
suppressed) and one young person's journey across all their cases. Definitions: services/journeys/pathways.py;
filters and `as_of`: services/journeys/pathway_queries.py. Never a name, never a safeguarding flag's detail."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from services.journeys.api.journeys import HIDDEN_FROM_DISTRICT_OFFICERS, READS_TABLE
from services.journeys.pathway_queries import Chosen, districts_of_person, young_person_journey
from services.journeys.summaries import pathway_map_of
from shared.auth import Role, requires
from shared.contracts.envelope import Day
from shared.contracts.vocabulary import Cohort, Gateway, LegalStatus
from shared.districts import district_register
from shared.service import After
from shared.web import District, Runtime, Today
from shared.web_tables import as_csv

router = APIRouter(tags=["pathways"])

PathwayReader = requires(Role.analyst, Role.commissioner, Role.district_officer, Role.admin)
"""Reads the pathway map: aggregates with small numbers suppressed (a district officer: their own district's)."""
YoungPersonJourneyReader = requires(Role.analyst, Role.commissioner, Role.auditor, Role.district_officer, Role.admin)
"""Reads a young person's journey (pseudonymous), as GET /journeys/{case_id}: every read is recorded."""
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]


@router.get("/pathway-map")
async def get_pathway_map(
    runtime: Runtime, caller: PathwayReader, today: Today, district: District,
    cohort: Annotated[Cohort | None, Query(description="The cohort at referral")] = None,
    gateway: Annotated[Gateway | None, Query(description="The gateway of the referral")] = None,
    referred_from: Annotated[Day | None, Query(description="Referrals from this day (UTC)")] = None,
    referred_to: Annotated[Day | None, Query(description="Referrals up to this day (UTC, included)")] = None,
    as_of: Annotated[Day | None, Query(description="As known at the end of this day: steps recorded later are "
                                                   "left out")] = None,
    flag: Annotated[Literal["uasc", "teenage_parent", "youth_justice"] | None,
                    Query(description="Journeys with this flag raised (never a safeguarding flag)")] = None,
    legal_status: Annotated[LegalStatus | None, Query(description="The legal status on the day of the referral")]
    = None,
    age_band: Annotated[Literal["16-17", "18-21", "22-25"] | None,
                        Query(description="The age band on the day of the referral (see AGE_BANDS)")] = None,
    area: Annotated[str | None, Query(description="A commissioning area of the district register (e.g. east_kent): "
                                                  "young people first referred in its districts")] = None,
    format: Format = "json", after: After = None,
) -> Any:
    """Journeys grouped into variants (the sequence of stages and provision types), each with its young people,
    median and 90th percentile days end to end, share ending in a planned move-on, share returning within 12 months
    of one, breakdowns per 100 placements and cost per young person and per planned move-on; the transitions
    between stages (a Sankey's links); `breakdowns` by reason and stage, `time_in_stage` (median and 90th
    percentile days) and `panel_throughput` per commissioning area and month (in CSV: rows of those kinds). A
    count under the small-number threshold is suppressed, with enough others that the total cannot reveal it."""
    if referred_from and referred_to and referred_to < referred_from:
        raise HTTPException(422, [{"loc": ["query", "referred_to"], "type": "range_not_allowed",
                                   "msg": "referred_to is on or after referred_from"}])
    if area is not None and area not in district_register().areas:
        raise HTTPException(422, [{"loc": ["query", "area"], "type": "unknown_area",
                                   "msg": f"{area!r} is not a commissioning area of the district register "
                                          f"({', '.join(sorted(district_register().areas))})"}])
    chosen = Chosen(district=caller.district_filter(district), cohort=cohort.value if cohort else None,
                    gateway=gateway.value if gateway else None, referred_from=referred_from,
                    referred_to=referred_to, as_of=as_of, flag=flag,
                    legal_status=legal_status.value if legal_status else None, age_band=age_band, area=area)
    await runtime.wait_for_positions(after or [], "journeys")
    async with runtime.pool.acquire() as conn:
        pathways = await pathway_map_of(conn, chosen, threshold=runtime.settings.small_number_threshold,
                                        today=today, schema=runtime.schema, pool=runtime.pool)
    return as_csv(pathways.rows(), "pathway-map") if format == "csv" else pathways.as_dict()


@router.get("/young-people/{person_ref}/journey")
async def get_young_person_journey(
    person_ref: UUID, runtime: Runtime, caller: YoungPersonJourneyReader, today: Today,
    reason: Annotated[str | None, Query(min_length=3, max_length=500,
                                        description="Why the journey is read (an auditor must say)")] = None,
    as_of: Annotated[Day | None, Query(description="As known at the end of this day: steps, cases and links "
                                                   "recorded later are left out")] = None,
    format: Format = "json", after: After = None,
) -> Any:
    """A young person's journey: every case of theirs (linked cases together; a district officer: their
    district's) in one timeline, each step with its stage and the cost of the stay it began. The read of each case
    is recorded."""
    if caller.role is Role.auditor and not reason:
        raise HTTPException(422, [{"loc": ["query", "reason"], "type": "reason_required",
                                   "msg": "an auditor gives the reason for reading a case history (?reason=)"}])
    await runtime.wait_for_positions(after or [], "journeys")
    async with runtime.pool.acquire() as conn:
        districts = await districts_of_person(conn, person_ref, runtime.schema)
        if not districts:
            raise HTTPException(404, f"no journey for young person {person_ref}")
        if caller.is_district_officer and caller.district not in districts:
            caller.confine_to(sorted(districts)[0])
        journey = await young_person_journey(conn, person_ref, today=today, schema=runtime.schema, as_of=as_of,
                                             district=caller.district if caller.is_district_officer else None)
        if journey is None:
            raise HTTPException(404, f"no journey for young person {person_ref}")
        await conn.executemany(
            f"INSERT INTO {runtime.schema}.{READS_TABLE} (subject, role, case_id, reason) VALUES ($1, $2, $3, $4)",
            [(caller.subject, caller.role.value, UUID(case["case_id"]), reason) for case in journey["cases"]])
    if caller.is_district_officer:
        for step in journey["steps"]:
            if hidden := HIDDEN_FROM_DISTRICT_OFFICERS.get(step["event_type"]):
                step["facts"].pop(hidden, None)
    if format == "csv":
        return as_csv(({**{key: value for key, value in step.items() if key not in ("facts", "cost")},
                        "cost_pence": step["cost"]["pence"] if "cost" in step else None,
                        "cost_by_stream": step["cost"]["by_stream"] if "cost" in step else None,
                        "facts": json.dumps(step["facts"], sort_keys=True)} for step in journey["steps"]),
                      f"journey-{person_ref}")
    return journey
