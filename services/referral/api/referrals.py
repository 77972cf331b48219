"""Making a referral: a young person presents, a case opens."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.referral.api.deps import CaseWorker, ReferralsStore, people_in_sight
from services.referral.handlers import MakeReferral, handle
from shared.contracts.inbound import ReferralFacts
from shared.web import Context, Runtime

router = APIRouter(tags=["referrals"])


class Referral(ReferralFacts):
    """A young person presenting through a gateway in a district."""

    district: str = Field(description="District code, e.g. preston")


class Referred(BaseModel):
    """What a referral returns: ids, who the young person turned out to be, and the position to read after."""

    case_id: UUID
    person_ref: UUID
    person_linked: bool = Field(description="The young person matched one already known and was linked to them")
    possible_matches: list[UUID] = Field(description="People the young person may be: flagged for a decision")
    position: str = Field(description="Pass as ?after= to a journeys read to see this write")


@router.post("/referrals", status_code=201)
def make_referral(referral: Referral, referrals: ReferralsStore, runtime: Runtime, context: Context,
                  caller: CaseWorker) -> Referred:
    """Make a referral: opens a case and records ReferralMade. A district officer refers in their own district
    only, and is never linked to nor shown a young person known only in another district (such a match is
    flagged for children's services to decide)."""
    caller.confine_to(referral.district)
    saved = handle(referrals, MakeReferral(**dict(referral), seen_from_district=caller.district), context)
    case = saved.case
    return Referred(case_id=case.id, person_ref=case.person_ref, person_linked=case.person_ref != case.own_person_ref,
                    possible_matches=sorted(people_in_sight(referrals, caller, case.possible_matches), key=str),
                    position=runtime.saved(saved.position))
