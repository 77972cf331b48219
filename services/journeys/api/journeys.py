"""Journeys of young people's cases, and the count of cases per district and cohort."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException

from services.journeys.projections.cases_by_district import cases_by_district
from services.journeys.projections.journeys import journey_of
from shared.service import After
from shared.web import District, Runtime

router = APIRouter(tags=["journeys"])


@router.get("/journeys/{case_id}")
async def get_journey(case_id: UUID, runtime: Runtime, after: After = None) -> dict:
    """A case's journey: the case and every step so far, in the order they happened."""
    await runtime.wait_for_positions(after or [], "journeys")
    async with runtime.pool.acquire() as conn:
        journey = await journey_of(conn, case_id)
    if journey is None:
        raise HTTPException(404, f"no journey for case {case_id}")
    return journey


@router.get("/cases-by-district")
async def get_cases_by_district(runtime: Runtime, district: District, after: After = None) -> list[dict]:
    """Cases referred per district and cohort, and how many of them are open."""
    await runtime.wait_for_positions(after or [], "cases_by_district")
    async with runtime.pool.acquire() as conn:
        return await cases_by_district(conn, district)
