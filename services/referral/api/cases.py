"""Following a case: its decisions, mediation, assessment, panel, closure and re-referral; reading it."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from services.referral.api.deps import (
    CaseReader,
    CaseWorker,
    PanelMember,
    ReferralsStore,
    case_within_reach,
    people_in_sight,
)
from services.referral.handlers import (
    AttemptMediation,
    CloseCase,
    CompleteAssessment,
    ConcludeMediation,
    DecideAtPanel,
    DecideEligibility,
    ReopenCase,
    handle,
)
from shared.contracts.inbound import (
    AssessmentFacts,
    ClosureFacts,
    EligibilityFacts,
    MediationOutcomeFacts,
    MediationStartFacts,
    PanelDecisionFacts,
    ReopeningFacts,
)
from shared.web import Context, Runtime

router = APIRouter(tags=["referrals"])


class Changed(BaseModel):
    case_id: UUID
    position: str


@router.post("/cases/{case_id}/eligibility")
def decide_eligibility(case_id: UUID, facts: EligibilityFacts, referrals: ReferralsStore, runtime: Runtime,
                       context: Context, caller: CaseWorker) -> Changed:
    """Record the eligibility decision (EligibilityDecided)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, DecideEligibility(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/mediation-attempts")
def attempt_mediation(case_id: UUID, facts: MediationStartFacts, referrals: ReferralsStore, runtime: Runtime,
                      context: Context, caller: CaseWorker) -> Changed:
    """Start a mediation attempt (MediationAttempted)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, AttemptMediation(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/mediation-outcomes")
def conclude_mediation(case_id: UUID, facts: MediationOutcomeFacts, referrals: ReferralsStore, runtime: Runtime,
                       context: Context, caller: CaseWorker) -> Changed:
    """Record how the mediation attempt ended (MediationConcluded)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, ConcludeMediation(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/assessments")
def complete_assessment(case_id: UUID, facts: AssessmentFacts, referrals: ReferralsStore, runtime: Runtime,
                        context: Context, caller: CaseWorker) -> Changed:
    """Record the shared assessment (AssessmentCompleted)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, CompleteAssessment(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/panel-decisions")
def decide_at_panel(case_id: UUID, facts: PanelDecisionFacts, referrals: ReferralsStore, runtime: Runtime,
                    context: Context, caller: PanelMember) -> Changed:
    """Record the panel's decision (PanelDecisionMade)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, DecideAtPanel(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/closure")
def close_case(case_id: UUID, facts: ClosureFacts, referrals: ReferralsStore, runtime: Runtime,
               context: Context, caller: CaseWorker) -> Changed:
    """Close the case (CaseClosed)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, CloseCase(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/reopening")
def reopen_case(case_id: UUID, facts: ReopeningFacts, referrals: ReferralsStore, runtime: Runtime,
                context: Context, caller: CaseWorker) -> Changed:
    """Reopen a closed case for a re-referral (CaseReopened): the journey continues."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, ReopenCase(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.get("/cases/{case_id}")
def get_case(case_id: UUID, referrals: ReferralsStore, caller: CaseReader) -> dict:
    """A case's current state (no personal data). Possible matches show only people the caller may see."""
    case = referrals.get_case(case_id)
    caller.confine_to(case.district)
    return {"case_id": str(case.id), "person_ref": str(case.person_ref), "district": case.district,
            "cohort": case.cohort.value, "referred_at": case.referred_at.isoformat(), "version": case.version,
            "legal_status": case.legal_status.value, "age_at_last_age_fact": case.age,
            "flags": sorted(flag.value for flag in case.flags), "restricted_flags": len(case.restricted_flags),
            "status": "closed" if case.closed else "open", "assessed": case.assessed,
            "mediation_attempts": case.mediation_attempts, "linked": case.person_ref != case.own_person_ref,
            "possible_matches": sorted(str(ref) for ref in people_in_sight(referrals, caller, case.possible_matches)),
            "personal_data_erased": case.personal_data_erased,
            "duty": {"duty": case.running_duty[0].value, "started_at": case.running_duty[1].isoformat()}
            if case.running_duty else None}
