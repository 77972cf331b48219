"""Journeys of young people's cases, and the count of cases per district and cohort.

Journeys are pseudonymous (a `person_ref`, never a name): analysts, commissioners, auditors, district officers
(their own district's) and administrators read them. Every read of a journey is recorded in `journey_reads`
with who read it, the case, the reason given (an auditor must give one) and when; administrators read that log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from services.journeys.projections.cases_by_district import cases_by_district
from services.journeys.projections.journeys import journey_of
from shared.auth import Role, requires
from shared.service import After, ServiceRuntime
from shared.web import District, Runtime

router = APIRouter(tags=["journeys"])

JourneyReader = requires(Role.analyst, Role.commissioner, Role.auditor, Role.district_officer, Role.admin)
CountsReader = requires(Role.analyst, Role.commissioner, Role.finance_officer, Role.auditor, Role.district_officer,
                        Role.childrens_services, Role.admin)
Administrator = requires(Role.admin)

READS_TABLE = "journey_reads"
HIDDEN_FROM_DISTRICT_OFFICERS = {"PossibleMatchFlagged": "candidate_person_ref",
                                 "PossibleMatchDismissed": "candidate_person_ref"}
"""A possible match may name a young person known only in another district: a district officer's journey
leaves the candidate out (children's services decide matches across districts)."""


async def prepare_journey_reads(runtime: ServiceRuntime, _js: object) -> None:
    """The log of journey reads, in the journeys schema (made when the service starts)."""
    async with runtime.pool.acquire() as conn:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {runtime.schema}.{READS_TABLE} ("
            " id bigserial PRIMARY KEY, subject text NOT NULL, role text NOT NULL, case_id uuid NOT NULL,"
            " reason text, read_at timestamptz NOT NULL DEFAULT now())")


@router.get("/journeys/{case_id}")
async def get_journey(
    case_id: UUID, runtime: Runtime, caller: JourneyReader,
    reason: Annotated[str | None, Query(min_length=3, max_length=500,
                                        description="Why the journey is read (an auditor must say)")] = None,
    after: After = None,
) -> dict:
    """A case's journey: the case and every step so far, in the order they happened. The read is recorded."""
    if caller.role is Role.auditor and not reason:
        raise HTTPException(422, [{"loc": ["query", "reason"], "type": "reason_required",
                                   "msg": "an auditor gives the reason for reading a case history (?reason=)"}])
    await runtime.wait_for_positions(after or [], "journeys")
    async with runtime.pool.acquire() as conn:
        journey = await journey_of(conn, case_id)
        if journey is None:
            raise HTTPException(404, f"no journey for case {case_id}")
        caller.confine_to(journey["district"])
        await conn.execute(f"INSERT INTO {runtime.schema}.{READS_TABLE} (subject, role, case_id, reason)"
                           " VALUES ($1, $2, $3, $4)", caller.subject, caller.role.value, case_id, reason)
    if caller.is_district_officer:
        for step in journey["steps"]:
            if hidden := HIDDEN_FROM_DISTRICT_OFFICERS.get(step["event_type"]):
                step["facts"].pop(hidden, None)
    return journey


class JourneyRead(BaseModel):
    """Who read a case's journey, when, and why."""

    subject: str
    role: str
    case_id: UUID
    reason: str | None
    read_at: datetime


@router.get("/journey-reads")
async def get_journey_reads(
    runtime: Runtime, _: Administrator, case_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JourneyRead]:
    """The latest reads of journeys (of one case, if given), newest first."""
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT subject, role, case_id, reason, read_at FROM {runtime.schema}.{READS_TABLE}"
            " WHERE $1::uuid IS NULL OR case_id = $1 ORDER BY id DESC LIMIT $2", case_id, limit)
    return [JourneyRead(**dict(row)) for row in rows]


@router.get("/cases-by-district")
async def get_cases_by_district(runtime: Runtime, district: District, caller: CountsReader,
                                after: After = None) -> list[dict]:
    """Cases referred per district and cohort, and how many of them are open (a district officer: their own)."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "cases_by_district")
    async with runtime.pool.acquire() as conn:
        return await cases_by_district(conn, district)
