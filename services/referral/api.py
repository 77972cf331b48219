"""The referral HTTP API for case workers and panels. Routes are plain `def`: the store is synchronous."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import EventContext
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Flag,
    Gateway,
    Level,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    SupportNeed,
    UnknownDistrict,
)
from shared.service import ServiceRuntime
from services.referral.application import CaseNotFound, Referrals
from services.referral.domain import Case, CaseConflict, ReferralRefused

router = APIRouter(tags=["referrals"])


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def referrals_of(request: Request) -> Referrals:
    return runtime_of(request).store


def context_of(
    x_actor: Annotated[str, Header(description="Who is making the change (user or system id)")] = "anonymous",
    x_correlation_id: Annotated[UUID | None, Header()] = None,
) -> EventContext:
    return EventContext(actor=x_actor, **({"correlation_id": x_correlation_id} if x_correlation_id else {}))


Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
ReferralsStore = Annotated[Referrals, Depends(referrals_of)]
Context = Annotated[EventContext, Depends(context_of)]


class MakeReferral(BaseModel):
    """A young person presenting through a gateway."""

    model_config = ConfigDict(extra="forbid")

    district: str = Field(description="District code, e.g. preston")
    gateway: Gateway
    cohort: Cohort
    date_of_birth: date = Field(description="Used to derive age at referral; never leaves the referral service")
    presenting_reason: PresentingReason
    flags: list[Flag] = Field(default_factory=list)
    occurred_at: AwareDatetime = Field(description="When the young person presented")


class Written(BaseModel):
    """What a write returns: ids, and the position a read can wait for."""

    case_id: UUID
    person_ref: UUID
    position: str = Field(description="Pass as ?after= to a journeys read to see this write")


def refused(error: Exception, field: str = "body") -> HTTPException:
    return HTTPException(422, [{"loc": [field], "msg": str(error), "type": type(error).__name__}])


@router.post("/referrals", status_code=201)
def make_referral(command: MakeReferral, referrals: ReferralsStore, runtime: Runtime, context: Context) -> Written:
    """Make a referral: opens a case and records ReferralMade."""
    try:
        case_id, person_ref, position = referrals.make_referral(context, **command.model_dump())
    except UnknownDistrict as error:
        raise refused(error, "district") from None
    except ReferralRefused as error:
        raise refused(error) from None
    return Written(case_id=case_id, person_ref=person_ref, position=runtime.saved(position))


class CaseChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    occurred_at: AwareDatetime = Field(description="When it happened")


class DecideEligibility(CaseChange):
    """The housing authority's eligibility decision; if eligible the 56-day prevention duty starts."""

    eligible: bool


class AttemptMediation(CaseChange):
    """A family mediation attempt starts."""


class ConcludeMediation(CaseChange):
    """The mediation attempt in progress ends."""

    outcome: MediationOutcome


class CompleteAssessment(CaseChange):
    """The shared needs-and-risk assessment."""

    support_needs: list[SupportNeed] = Field(default_factory=list)
    support_level: Level
    risk: Level
    priority_band: PriorityBand


class DecideAtPanel(CaseChange):
    """The multi-agency panel's decision."""

    decision: PanelDecision
    panel_date: date
    emergency_placement_reported: bool = False


class CloseCase(CaseChange):
    reason: ClosureReason


class ReopenCase(CaseChange):
    """The same young person referred again."""

    presenting_reason: PresentingReason
    cohort: Cohort
    date_of_birth: date


class Changed(BaseModel):
    case_id: UUID
    position: str


def change(referrals: Referrals, runtime: ServiceRuntime, context: EventContext, case_id: UUID, action,
           command: BaseModel) -> Changed:
    try:
        position = referrals.change_case(context, case_id, action, **command.model_dump())
    except CaseNotFound as error:
        raise HTTPException(404, str(error)) from None
    except CaseConflict as error:
        raise HTTPException(409, [{"msg": str(error), "type": type(error).__name__}]) from None
    except ReferralRefused as error:
        raise refused(error) from None
    return Changed(case_id=case_id, position=runtime.saved(position))


@router.post("/cases/{case_id}/eligibility")
def decide_eligibility(case_id: UUID, command: DecideEligibility, referrals: ReferralsStore, runtime: Runtime,
                       context: Context) -> Changed:
    """Record the eligibility decision (EligibilityDecided)."""
    return change(referrals, runtime, context, case_id, Case.decide_eligibility, command)


@router.post("/cases/{case_id}/mediation-attempts")
def attempt_mediation(case_id: UUID, command: AttemptMediation, referrals: ReferralsStore, runtime: Runtime,
                      context: Context) -> Changed:
    """Start a mediation attempt (MediationAttempted)."""
    return change(referrals, runtime, context, case_id, Case.attempt_mediation, command)


@router.post("/cases/{case_id}/mediation-outcomes")
def conclude_mediation(case_id: UUID, command: ConcludeMediation, referrals: ReferralsStore, runtime: Runtime,
                       context: Context) -> Changed:
    """Record how the mediation attempt ended (MediationConcluded)."""
    return change(referrals, runtime, context, case_id, Case.conclude_mediation, command)


@router.post("/cases/{case_id}/assessments")
def complete_assessment(case_id: UUID, command: CompleteAssessment, referrals: ReferralsStore, runtime: Runtime,
                        context: Context) -> Changed:
    """Record the shared assessment (AssessmentCompleted)."""
    return change(referrals, runtime, context, case_id, Case.complete_assessment, command)


@router.post("/cases/{case_id}/panel-decisions")
def decide_at_panel(case_id: UUID, command: DecideAtPanel, referrals: ReferralsStore, runtime: Runtime,
                    context: Context) -> Changed:
    """Record the panel's decision (PanelDecisionMade)."""
    return change(referrals, runtime, context, case_id, Case.decide_at_panel, command)


@router.post("/cases/{case_id}/closure")
def close_case(case_id: UUID, command: CloseCase, referrals: ReferralsStore, runtime: Runtime,
               context: Context) -> Changed:
    """Close the case (CaseClosed)."""
    return change(referrals, runtime, context, case_id, Case.close, command)


@router.post("/cases/{case_id}/reopening")
def reopen_case(case_id: UUID, command: ReopenCase, referrals: ReferralsStore, runtime: Runtime,
                context: Context) -> Changed:
    """Reopen a closed case for a re-referral (CaseReopened): the journey continues."""
    return change(referrals, runtime, context, case_id, Case.reopen, command)


@router.get("/cases/{case_id}")
def get_case(case_id: UUID, referrals: ReferralsStore) -> dict:
    """A case's current state (no personal data)."""
    try:
        case = referrals.get_case(case_id)
    except CaseNotFound as error:
        raise HTTPException(404, str(error)) from None
    return {"case_id": str(case.id), "person_ref": str(case.person_ref), "district": case.district,
            "cohort": case.cohort.value, "referred_at": case.referred_at.isoformat(), "version": case.version,
            "status": "closed" if case.closed else "open", "assessed": case.assessed,
            "mediation_attempts": case.mediation_attempts,
            "prevention_duty_due_on": case.prevention_duty_due_on.isoformat() if case.prevention_duty_due_on else None}
