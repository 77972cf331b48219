"""The referral HTTP API for case workers and panels. Routes are plain `def`: the store is synchronous."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from shared.contracts import EventContext
from shared.contracts.inbound import (
    AssessmentFacts,
    ClosureFacts,
    Dated,
    EligibilityFacts,
    MediationOutcomeFacts,
    MediationStartFacts,
    PanelDecisionFacts,
    ReferralFacts,
    ReopeningFacts,
)
from shared.contracts.vocabulary import UnknownDistrict
from shared.service import ServiceRuntime
from shared.web import Context, Runtime, store_unavailable
from services.referral.application import CaseNotFound, PersonalDataNeeded, Referrals, UnknownPerson
from services.referral.domain import Case, CaseConflict, ReferralRefused
from services.referral.vault import PersonalDataErased, YoungPerson

router = APIRouter(tags=["referrals"])


def referrals_of(request: Request) -> Referrals:
    return request.app.state.runtime.store


ReferralsStore = Annotated[Referrals, Depends(referrals_of)]


class MakeReferral(ReferralFacts):
    """A young person presenting through a gateway in a district."""

    district: str = Field(description="District code, e.g. preston")


class Written(BaseModel):
    """What a write returns: ids, and the position a read can wait for."""

    case_id: UUID
    person_ref: UUID
    person_linked: bool = Field(description="The young person matched one already known and was linked to them")
    possible_matches: list[UUID] = Field(description="People the young person may be: flagged for a decision")
    position: str = Field(description="Pass as ?after= to a journeys read to see this write")


def refused(error: Exception, field: str = "body") -> HTTPException:
    return HTTPException(422, [{"loc": [field], "msg": str(error), "type": type(error).__name__}])


@router.post("/referrals", status_code=201)
def make_referral(command: MakeReferral, referrals: ReferralsStore, runtime: Runtime, context: Context) -> Written:
    """Make a referral: opens a case and records ReferralMade."""
    try:
        case, position = referrals.make_referral(context, **dict(command))
    except UnknownDistrict as error:
        raise refused(error, "district") from None
    except ReferralRefused as error:
        raise refused(error) from None
    except IntegrityError:
        raise changed_concurrently() from None
    except OperationalError:
        raise store_unavailable() from None
    return Written(case_id=case.id, person_ref=case.person_ref, person_linked=case.person_ref != case.own_person_ref,
                   possible_matches=sorted(case.possible_matches, key=str), position=runtime.saved(position))


class Changed(BaseModel):
    case_id: UUID
    position: str


def change(referrals: Referrals, runtime: ServiceRuntime, context: EventContext, case_id: UUID, action,
           command: BaseModel) -> Changed:
    return written(runtime, case_id, lambda: referrals.change_case(context, case_id, action, **dict(command)))


def written(runtime: ServiceRuntime, case_id: UUID, write) -> Changed:
    """Run a write to a case, turning the referral rules' errors into 404, 409 and 422 responses."""
    try:
        position = write()
    except CaseNotFound as error:
        raise HTTPException(404, str(error)) from None
    except CaseConflict as error:
        raise HTTPException(409, [{"msg": str(error), "type": type(error).__name__}]) from None
    except UnknownPerson as error:
        raise refused(error, "person_ref") from None
    except (ReferralRefused, PersonalDataNeeded) as error:
        raise refused(error) from None
    except IntegrityError:
        raise changed_concurrently() from None
    except OperationalError:
        raise store_unavailable() from None
    return Changed(case_id=case_id, position=runtime.saved(position))


def changed_concurrently() -> HTTPException:
    """Another change to the same case (or person) was saved first: nothing of this one was saved."""
    return HTTPException(409, [{"msg": "the case or young person changed while this change was being made; "
                                       "nothing was saved: read it again and retry", "type": "ChangedConcurrently"}])


@router.post("/cases/{case_id}/eligibility")
def decide_eligibility(case_id: UUID, command: EligibilityFacts, referrals: ReferralsStore, runtime: Runtime,
                       context: Context) -> Changed:
    """Record the eligibility decision (EligibilityDecided)."""
    return change(referrals, runtime, context, case_id, Case.decide_eligibility, command)


@router.post("/cases/{case_id}/mediation-attempts")
def attempt_mediation(case_id: UUID, command: MediationStartFacts, referrals: ReferralsStore, runtime: Runtime,
                      context: Context) -> Changed:
    """Start a mediation attempt (MediationAttempted)."""
    return change(referrals, runtime, context, case_id, Case.attempt_mediation, command)


@router.post("/cases/{case_id}/mediation-outcomes")
def conclude_mediation(case_id: UUID, command: MediationOutcomeFacts, referrals: ReferralsStore, runtime: Runtime,
                       context: Context) -> Changed:
    """Record how the mediation attempt ended (MediationConcluded)."""
    return change(referrals, runtime, context, case_id, Case.conclude_mediation, command)


@router.post("/cases/{case_id}/assessments")
def complete_assessment(case_id: UUID, command: AssessmentFacts, referrals: ReferralsStore, runtime: Runtime,
                        context: Context) -> Changed:
    """Record the shared assessment (AssessmentCompleted)."""
    return change(referrals, runtime, context, case_id, Case.complete_assessment, command)


@router.post("/cases/{case_id}/panel-decisions")
def decide_at_panel(case_id: UUID, command: PanelDecisionFacts, referrals: ReferralsStore, runtime: Runtime,
                    context: Context) -> Changed:
    """Record the panel's decision (PanelDecisionMade)."""
    return change(referrals, runtime, context, case_id, Case.decide_at_panel, command)


@router.post("/cases/{case_id}/closure")
def close_case(case_id: UUID, command: ClosureFacts, referrals: ReferralsStore, runtime: Runtime,
               context: Context) -> Changed:
    """Close the case (CaseClosed)."""
    return change(referrals, runtime, context, case_id, Case.close, command)


@router.post("/cases/{case_id}/reopening")
def reopen_case(case_id: UUID, command: ReopeningFacts, referrals: ReferralsStore, runtime: Runtime,
                context: Context) -> Changed:
    """Reopen a closed case for a re-referral (CaseReopened): the journey continues."""
    return written(runtime, case_id, lambda: referrals.reopen_case(context, case_id, **dict(command)))


class LinkPerson(Dated):
    """A case worker's decision that the case's young person is a person already known."""

    person_ref: UUID


@router.post("/cases/{case_id}/person-link")
def link_person(case_id: UUID, command: LinkPerson, referrals: ReferralsStore, runtime: Runtime,
                context: Context) -> Changed:
    """Link the case's young person to a person already known (PersonLinked)."""
    return written(runtime, case_id, lambda: referrals.link_person(context, case_id, **dict(command)))


@router.post("/cases/{case_id}/person-unlink")
def unlink_person(case_id: UUID, command: Dated, referrals: ReferralsStore, runtime: Runtime,
                  context: Context) -> Changed:
    """Undo a link: the case's young person is a person of their own again (PersonUnlinked)."""
    return written(runtime, case_id, lambda: referrals.unlink_person(context, case_id, **dict(command)))


@router.post("/cases/{case_id}/possible-matches/{candidate_person_ref}/dismissal")
def dismiss_possible_match(case_id: UUID, candidate_person_ref: UUID, command: Dated,
                           referrals: ReferralsStore, runtime: Runtime, context: Context) -> Changed:
    """Decide a flagged possible match is someone else (PossibleMatchDismissed)."""
    return written(runtime, case_id, lambda: referrals.dismiss_possible_match(
        context, case_id, candidate_person_ref, **dict(command)))


@router.get("/people/possible-matches", tags=["people"])
def possible_matches(referrals: ReferralsStore) -> list[dict]:
    """Uncertain matches waiting for a case worker's decision: link the case, or dismiss the match."""
    return [{"case_id": str(row["case_id"]), "candidate_person_ref": str(row["candidate_person_ref"]),
             "matched_on": row["matched_on"], "flagged_at": row["flagged_at"].isoformat()}
            for row in referrals.vault.open_possible_matches()]


@router.get("/people/{person_ref}/personal-data", tags=["people"])
def read_personal_data(person_ref: UUID, referrals: ReferralsStore, context: Context) -> YoungPerson:
    """The young person's latest details, for a case worker. Every read is recorded with its actor."""
    try:
        person = referrals.vault.read_person(person_ref, context.actor)
    except PersonalDataErased as error:
        raise HTTPException(410, str(error)) from None
    if person is None:
        raise HTTPException(404, f"the vault holds no personal data for {person_ref}")
    return person


class Erased(BaseModel):
    person_ref: UUID
    case_ids: list[UUID] = Field(description="The cases whose personal details are now unreadable")
    position: str


@router.delete("/people/{person_ref}/personal-data", tags=["people"])
def erase_personal_data(person_ref: UUID, referrals: ReferralsStore, runtime: Runtime, context: Context) -> Erased:
    """Erase the young person's personal data: their key is destroyed, the case histories keep their facts
    (PersonalDataErased on each case). Repeating it is safe."""
    try:
        case_ids, position = referrals.erase_personal_data(context, person_ref)
    except UnknownPerson as error:
        raise HTTPException(404, str(error)) from None
    except IntegrityError:
        raise changed_concurrently() from None
    return Erased(person_ref=person_ref, case_ids=case_ids, position=runtime.saved(position))


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
            "mediation_attempts": case.mediation_attempts, "linked": case.person_ref != case.own_person_ref,
            "possible_matches": sorted(str(ref) for ref in case.possible_matches),
            "personal_data_erased": case.personal_data_erased,
            "prevention_duty_due_on": case.prevention_duty_due_on.isoformat() if case.prevention_duty_due_on else None}
