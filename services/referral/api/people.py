"""Who a young person is: linking cases to a person already known, possible matches, personal data."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.referral.api.cases import Changed
from services.referral.api.deps import (
    CaseWorker,
    DataProtectionOfficer,
    PersonalDataReader,
    ReferralsStore,
    case_within_reach,
    person_within_reach,
    sees_person,
)
from services.referral.domain import UnknownPerson
from services.referral.handlers import DismissPossibleMatch, ErasePersonalData, LinkPerson, UnlinkPerson, handle
from shared.contracts.inbound import Dated, YoungPerson
from shared.web import Context, Runtime

router = APIRouter(tags=["people"])


class PersonLink(Dated):
    """A case worker's decision that the case's young person is a person already known."""

    person_ref: UUID


@router.post("/cases/{case_id}/person-link")
def link_person(case_id: UUID, link: PersonLink, referrals: ReferralsStore, runtime: Runtime,
                context: Context, caller: CaseWorker) -> Changed:
    """Link the case's young person to a person already known (PersonLinked). A district officer links only
    to someone with a case in their own district; a match across districts is children's services' to decide."""
    case_within_reach(referrals, caller, case_id)
    person_within_reach(referrals, caller, link.person_ref)
    saved = handle(referrals, LinkPerson(case_id=case_id, **dict(link)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/person-unlink")
def unlink_person(case_id: UUID, facts: Dated, referrals: ReferralsStore, runtime: Runtime,
                  context: Context, caller: CaseWorker) -> Changed:
    """Undo a link: the case's young person is a person of their own again (PersonUnlinked)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, UnlinkPerson(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/possible-matches/{candidate_person_ref}/dismissal")
def dismiss_possible_match(case_id: UUID, candidate_person_ref: UUID, facts: Dated, referrals: ReferralsStore,
                           runtime: Runtime, context: Context, caller: CaseWorker) -> Changed:
    """Decide a flagged possible match is someone else (PossibleMatchDismissed)."""
    case_within_reach(referrals, caller, case_id)
    person_within_reach(referrals, caller, candidate_person_ref)
    command = DismissPossibleMatch(case_id=case_id, candidate_person_ref=candidate_person_ref, **dict(facts))
    saved = handle(referrals, command, context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.get("/people/possible-matches")
def possible_matches(referrals: ReferralsStore, caller: CaseWorker) -> list[dict]:
    """Uncertain matches waiting for a case worker's decision: link the case, or dismiss the match. A district
    officer sees those of their own district's cases whose candidate they may already see (a candidate known
    only in another district is children's services' to decide)."""
    rows = referrals.vault.open_possible_matches()
    if caller.is_district_officer:
        rows = [row for row in rows if referrals.get_case(row["case_id"]).district == caller.district
                and sees_person(referrals, caller, row["candidate_person_ref"])]
    return [{"case_id": str(row["case_id"]), "candidate_person_ref": str(row["candidate_person_ref"]),
             "matched_on": row["matched_on"], "flagged_at": row["flagged_at"].isoformat()} for row in rows]


@router.get("/people/{person_ref}/personal-data")
def read_personal_data(person_ref: UUID, referrals: ReferralsStore, context: Context,
                       caller: PersonalDataReader) -> YoungPerson:
    """The young person's latest details, for a case worker (a district officer: someone with a case in their
    district). Every read is recorded with its actor."""
    person_within_reach(referrals, caller, person_ref)
    person = referrals.vault.read_person(person_ref, context.actor)
    if person is None:
        raise UnknownPerson(f"the vault holds no personal data for {person_ref}")
    return person


class Erased(BaseModel):
    person_ref: UUID
    case_ids: list[UUID] = Field(description="The cases whose personal details are now unreadable")
    position: str
    write_ahead_log: str = Field(description="Whether PostgreSQL's write-ahead log was switched past the "
                                             "destroyed key (or why not)")


@router.delete("/people/{person_ref}/personal-data")
def erase_personal_data(person_ref: UUID, referrals: ReferralsStore, runtime: Runtime, context: Context,
                        _: DataProtectionOfficer) -> Erased:
    """Erase the young person's personal data: their key is destroyed, the case histories keep their facts
    (PersonalDataErased on each case), and PostgreSQL's write-ahead log is switched past it. Repeating it is
    safe."""
    saved = handle(referrals, ErasePersonalData(person_ref=person_ref), context)
    wal = referrals.vault.switch_write_ahead_log()
    return Erased(person_ref=person_ref, case_ids=[case.id for case in saved.cases],
                  position=runtime.saved(saved.position), write_ahead_log=wal)
