"""Homelessness duties on a case: a duty starts, a duty ends (with its reason)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from services.referral.api.cases import Changed
from services.referral.api.deps import CaseWorker, ReferralsStore, case_within_reach
from services.referral.handlers import EndDuty, StartDuty, handle
from shared.contracts.inbound import DutyEndFacts, DutyStartFacts
from shared.web import Context, Runtime

router = APIRouter(tags=["homelessness duties"])


@router.post("/cases/{case_id}/duty-starts")
def start_duty(case_id: UUID, facts: DutyStartFacts, referrals: ReferralsStore, runtime: Runtime,
               context: Context, caller: CaseWorker) -> Changed:
    """Record that a homelessness duty is owed from `occurred_at` (DutyStarted): one at a time; relief after the
    prevention duty ended (became_homeless) or directly; a main duty once relief ended (relief_period_ended or
    main_duty_accepted); never on a case decided ineligible."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, StartDuty(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/duty-ends")
def end_duty(case_id: UUID, facts: DutyEndFacts, referrals: ReferralsStore, runtime: Runtime,
             context: Context, caller: CaseWorker) -> Changed:
    """Record that the running duty ended, and why (DutyEnded): the reason must be one that ends that duty, and
    relief_period_ended only once the relief duty's 56 days have passed."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, EndDuty(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))
