"""A young person's legal status over time, their flags as dated facts, and the birthday sweep.

Safeguarding flags are restricted: raised and ended here like any flag, but which one a case carries is read only
by children's services and a district officer of the case's district (never by analysts, never in an event).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.referral.api.cases import Changed
from services.referral.api.deps import CaseWorker, ReferralsStore, case_within_reach
from services.referral.handlers import ChangeLegalStatus, EndFlag, RaiseFlag, RecordBirthdays, handle
from shared.auth import Role, requires
from shared.contracts.envelope import Day
from shared.contracts.inbound import FlagEndingFacts, FlagFacts, LegalStatusFacts
from shared.contracts.vocabulary import SafeguardingFlag
from shared.web import Context, Runtime, Today

router = APIRouter(tags=["legal status and flags"])

SafeguardingReader = requires(Role.childrens_services, Role.district_officer)
"""Reads which safeguarding flags a case carries (a district officer: their own district's cases)."""
BirthdaySweeper = requires(Role.admin)
"""Runs the birthday sweep now (the referral service also runs it at start and every hour)."""


@router.post("/cases/{case_id}/legal-status")
def change_legal_status(case_id: UUID, facts: LegalStatusFacts, referrals: ReferralsStore, runtime: Runtime,
                        context: Context, caller: CaseWorker) -> Changed:
    """Record the young person's legal status (and cohort) from a day on (LegalStatusChanged; AgeReached first if
    they turned 18 before that day). The age at that day is derived from the date of birth in the vault."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, ChangeLegalStatus(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/flags")
def raise_flag(case_id: UUID, facts: FlagFacts, referrals: ReferralsStore, runtime: Runtime, context: Context,
               caller: CaseWorker) -> Changed:
    """Raise a flag from a day on (FlagRaised; a safeguarding flag: RestrictedFlagRaised, which names no kind)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, RaiseFlag(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


@router.post("/cases/{case_id}/flag-endings")
def end_flag(case_id: UUID, facts: FlagEndingFacts, referrals: ReferralsStore, runtime: Runtime, context: Context,
             caller: CaseWorker) -> Changed:
    """End a flag from a day on (FlagEnded; a safeguarding flag: RestrictedFlagEnded)."""
    case_within_reach(referrals, caller, case_id)
    saved = handle(referrals, EndFlag(case_id=case_id, **dict(facts)), context)
    return Changed(case_id=case_id, position=runtime.saved(saved.position))


class SafeguardingFlagPeriod(BaseModel):
    """A safeguarding flag of a case: which, and from when to when (ended_at null: raised now)."""

    flag_id: UUID
    flag: SafeguardingFlag
    raised_at: datetime
    ended_at: datetime | None


@router.get("/cases/{case_id}/safeguarding-flags")
def safeguarding_flags(case_id: UUID, referrals: ReferralsStore, caller: SafeguardingReader
                       ) -> list[SafeguardingFlagPeriod]:
    """The case's safeguarding flags, raised or ended, oldest first: children's services, and a district officer
    of the case's district."""
    caller.confine_to(referrals.get_case(case_id).district)
    return [SafeguardingFlagPeriod(**row) for row in referrals.safeguarding.of_case(case_id)]


class Birthdays(BaseModel):
    on: date
    case_ids: list[UUID] = Field(description="The cases on which AgeReached was recorded")
    position: str


@router.post("/birthdays")
def record_birthdays(referrals: ReferralsStore, runtime: Runtime, context: Context, _: BirthdaySweeper,
                     today: Today, on: Annotated[Day | None, Query(description="Up to this day; today if none")] = None
                     ) -> Birthdays:
    """Run the birthday sweep: AgeReached (18) on each open case whose young person is counted as 18 by `on` (from
    the first day of the month after the 18th birthday)."""
    on = on or today
    saved = handle(referrals, RecordBirthdays(on=on), context)
    return Birthdays(on=on, case_ids=[case.id for case in saved.cases], position=runtime.saved(saved.position))
