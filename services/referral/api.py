"""The referral HTTP API for case workers and panels. Routes are plain `def`: the store is synchronous."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import EventContext
from shared.contracts.vocabulary import Cohort, Flag, Gateway, PresentingReason, UnknownDistrict
from shared.service import ServiceRuntime
from services.referral.application import CaseNotFound, Referrals
from services.referral.domain import ReferralRefused

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


@router.get("/cases/{case_id}")
def get_case(case_id: UUID, referrals: ReferralsStore) -> dict:
    """A case's current state (no personal data)."""
    try:
        case = referrals.get_case(case_id)
    except CaseNotFound as error:
        raise HTTPException(404, str(error)) from None
    return {"case_id": str(case.id), "person_ref": str(case.person_ref), "district": case.district,
            "cohort": case.cohort.value, "referred_at": case.referred_at.isoformat(), "version": case.version}
