"""The journeys HTTP API: analysts' and auditors' reads."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, Request

from shared.service import After
from shared.web import runtime_of
from services.journeys.projections import journey_of

router = APIRouter(tags=["journeys"])


@router.get("/journeys/{case_id}")
async def get_journey(
    case_id: UUID,
    request: Request,
    after: After = None,
) -> dict:
    """A case's journey: the case and every step so far, in the order they happened."""
    runtime = runtime_of(request)
    await runtime.wait_for_positions(after or [], "journey projection")
    async with runtime.pool.acquire() as conn:
        journey = await journey_of(conn, case_id)
    if journey is None:
        raise HTTPException(404, f"no journey for case {case_id}")
    return journey
