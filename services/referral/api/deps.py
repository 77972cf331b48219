"""What the referral routes take besides their input: the store, and who may call each route (see
`shared.web` for the rest). The roles are the domain's (`shared.auth.Role`); services/referral/README.md has the
table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from services.referral.application import Referrals
from shared.auth import SEES_EVERY_DISTRICT, Principal, Role, forbidden, requires


def referrals_of(request: Request) -> Referrals:
    return request.app.state.runtime.store


ReferralsStore = Annotated[Referrals, Depends(referrals_of)]

CaseWorker = requires(Role.district_officer, Role.childrens_services, Role.admin)
"""Makes referrals and follows cases (a district officer: their own district's)."""
PanelMember = requires(Role.panel_member, Role.admin)
"""Records the panel's decisions."""
CaseReader = requires(Role.district_officer, Role.childrens_services, Role.panel_member,
                      Role.data_protection_officer, Role.admin)
"""Reads a case's state (no personal data)."""
PersonalDataReader = requires(Role.district_officer, Role.childrens_services, Role.data_protection_officer,
                              limited=True)
"""Reads a young person's personal details (a district officer: someone with a case in their district)."""
DataProtectionOfficer = requires(Role.data_protection_officer)
"""Erases a young person's personal data."""
RefusedMessagesReader = requires(Role.district_officer, Role.admin)
"""Reads a district's refused messages (a district officer: their own district's)."""
PanelAgendaReader = requires(Role.district_officer, Role.panel_member, Role.childrens_services, Role.admin)
DutiesClockReader = requires(Role.district_officer, Role.panel_member, Role.childrens_services,
                             Role.commissioner, Role.admin)
"""Reads the homelessness duties running on open cases (a district officer: their own district's)."""
MediationOutcomesReader = requires(Role.analyst, Role.commissioner, Role.district_officer, Role.childrens_services,
                                   Role.admin)
"""Reads mediation's return-home rate: counts only (a district officer: their own district's)."""


def case_within_reach(referrals: Referrals, principal: Principal, case_id: UUID) -> None:
    """403 for a district officer asking about another district's case (before anything is changed); a case
    that does not exist is a 404 as ever."""
    if principal.is_district_officer:
        principal.confine_to(referrals.get_case(case_id).district)


def sees_person(referrals: Referrals, principal: Principal, person_ref: UUID) -> bool:
    """Whether the caller may already see the young person: every district's roles may; a district officer
    only someone with a case in their own district."""
    return not principal.is_district_officer or principal.district in referrals.districts_of(person_ref)


def person_within_reach(referrals: Referrals, principal: Principal, person_ref: UUID) -> None:
    if not sees_person(referrals, principal, person_ref):
        raise forbidden(f"a district officer of {principal.district} may only see young people with a case in "
                        f"{principal.district}", "not_your_district")


def people_in_sight(referrals: Referrals, principal: Principal, people: Iterable[UUID]) -> list[UUID]:
    """The people of `people` the caller may see, in order."""
    return [ref for ref in people if sees_person(referrals, principal, ref)]


def decides_across_districts(principal: Principal) -> bool:
    return principal.role in SEES_EVERY_DISTRICT
