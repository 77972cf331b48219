"""Mediation's follow-up: whether a return home lasted, and the return-home rate analysts and commissioners read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.referral.api.cases import Changed
from services.referral.api.deps import CaseWorker, MediationOutcomesReader, ReferralsStore, case_within_reach
from services.referral.handlers import FollowUpReturnHome, handle
from services.referral.projections.mediation_returns import MediationReturnHomeRate, mediation_return_home_rate
from shared.contracts.envelope import Day
from shared.contracts.inbound import ReturnHomeFollowUpFacts
from shared.service import After
from shared.web import Context, District, Runtime

router = APIRouter(tags=["mediation"])


@router.post("/cases/{case_id}/return-home-follow-ups")
def follow_up_return_home(case_id: UUID, facts: ReturnHomeFollowUpFacts, referrals: ReferralsStore,
                          runtime: Runtime, context: Context, caller: CaseWorker) -> Changed:
    """Record whether a young person who returned home after a mediation attempt is still at home, 3 or 6 months
    on (ReturnHomeFollowedUp): once each, not before it is due (less the service's tolerance), closed cases too."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, FollowUpReturnHome(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.get("/mediation-returns")
async def get_mediation_returns(
    runtime: Runtime,
    district: District,
    caller: MediationOutcomesReader,
    concluded_from: Annotated[Day | None, Query(description="Attempts concluded on or after this day (UTC)")] = None,
    concluded_to: Annotated[Day | None, Query(description="Attempts concluded on or before this day (UTC)")] = None,
    after: After = None,
) -> MediationReturnHomeRate:
    """Mediation's return-home rate, and how many returns lasted at 3 and at 6 months: counts only, no case or
    young person named. A district officer sees their own district's only."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "mediation_returns")
    async with runtime.pool.acquire() as conn:
        return await mediation_return_home_rate(conn, district, concluded_from, concluded_to)

