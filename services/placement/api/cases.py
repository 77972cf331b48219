"""Cases as the placement service knows them (from the referral service's events), and those awaiting a
placement. Both come from read models and take `after=referral:<position>` to wait for a recent change."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from services.placement.domain import CaseNotFound
from services.placement.projections import placements as read_model

from . import views
from .deps import CaughtUp, District, Runtime, Today, WatchingCases
from .schemas import AwaitingPlacement, KnownCaseView

router = APIRouter(tags=["placements"])


@router.get("/cases-awaiting-placement")
async def get_cases_awaiting_placement(runtime: Runtime, today: Today, district: District,
                                       _: CaughtUp, caller: WatchingCases) -> AwaitingPlacement:
    """Open cases whose latest panel decision allocated a service and who have not been placed since (a
    district officer: their own district's)."""
    district = caller.district_filter(district)
    async with runtime.pool.acquire() as conn:
        rows = await read_model.cases_awaiting_placement(conn, district=district)
    return AwaitingPlacement(as_of=today, district=district, cases=[views.awaiting_case(row, today) for row in rows])


@router.get("/cases/{case_id}")
async def get_known_case(case_id: UUID, runtime: Runtime, _: CaughtUp, caller: WatchingCases) -> KnownCaseView:
    """What the placement service has heard of a case (take `after=referral:<position>` to wait for it)."""
    async with runtime.pool.acquire() as conn:
        row = await read_model.known_case(conn, case_id)
    if row is None:
        raise CaseNotFound(f"the placement service has not heard of case {case_id}")
    caller.confine_to(row["district"])
    return views.known_case_view(row)
