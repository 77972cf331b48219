"""What the placement routes take, as `Annotated` aliases (the shared ones are in `shared.web`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import Depends, HTTPException, Query, Request

from services.placement.application import Placements
from services.placement.domain import UnknownCase
from shared.auth import EVERY_ROLE, Principal, Role, requires
from shared.service import After
from shared.web import Context, District, Runtime, Today, runtime_of

__all__ = ["Administering", "AnyRole", "CaughtUp", "Context", "District", "NightRange", "PlacementReader",
           "PlacementWriter", "Runtime", "SchemeKeeper", "Store", "Today", "WatchingCases"]

# Who may call each route (services/placement/README.md has the table).
Administering = requires(Role.commissioner, Role.admin)
"""Registers providers and schemes."""
SchemeKeeper = requires(Role.provider, Role.commissioner, Role.admin)
"""Changes a scheme's capacity (a provider: their own schemes')."""
AnyRole = requires(*EVERY_ROLE)
"""The catalogue: any authenticated role."""
PlacementWriter = requires(Role.provider, Role.district_officer, Role.childrens_services, Role.admin)
"""Starts, moves and ends placements (a provider: in their own schemes; a district officer: their district's)."""
PlacementReader = requires(Role.provider, Role.district_officer, Role.childrens_services, Role.commissioner,
                           Role.admin)
WatchingCases = requires(Role.district_officer, Role.childrens_services, Role.commissioner, Role.admin)
"""Stays over their limit, cases awaiting placement, a case as the placement service knows it."""


def scheme_within_reach(store: Placements, principal: Principal, scheme_id: UUID) -> None:
    """403 for a provider and a scheme not theirs (checked before anything changes; an unknown scheme is
    left to the handler to refuse)."""
    if principal.role is Role.provider:
        principal.confine_to_provider(store.get_scheme(scheme_id).provider_id)


def case_within_reach(store: Placements, principal: Principal, case_id: UUID) -> None:
    """403 for a district officer and another district's case (from the known cases the referral service told)."""
    if principal.is_district_officer:
        case = store.cases.case(case_id)
        if case is None:
            raise UnknownCase(f"no case {case_id} is known to the placement service (yet)", field="case_id")
        principal.confine_to(case.district)


def placement_within_reach(store: Placements, principal: Principal, placement_id: UUID) -> None:
    """403 for a district officer and another district's placement, or a provider and a placement whose
    current scheme is not theirs."""
    if principal.is_district_officer or principal.role is Role.provider:
        placement = store.get_placement(placement_id)
        principal.confine_to(placement.district)
        scheme_within_reach(store, principal, placement.scheme_id)

LONGEST_OCCUPANCY_RANGE = 366
"""The most nights one occupancy request covers."""


def placements_of(request: Request) -> Placements:
    return runtime_of(request).store


async def caught_up(request: Request, after: After = None) -> None:
    """Wait until this service's projections have applied every position in `after`."""
    await runtime_of(request).wait_for_positions(after or [])


@dataclass(frozen=True)
class Nights:
    first: date
    last: date


def night_range(
    first_night: Annotated[date, Query(description="First night of the range")],
    last_night: Annotated[date, Query(description="Last night of the range (included)")],
) -> Nights:
    """`?first_night=&last_night=`: 1 to LONGEST_OCCUPANCY_RANGE nights, first first, or a 422 naming them."""
    if last_night < first_night or (last_night - first_night).days >= LONGEST_OCCUPANCY_RANGE:
        raise HTTPException(422, [{"loc": ["query", "last_night"], "type": "occupancy_range",
                                   "msg": f"give 1 to {LONGEST_OCCUPANCY_RANGE} nights, first_night first"}])
    return Nights(first_night, last_night)


Store = Annotated[Placements, Depends(placements_of)]
CaughtUp = Annotated[None, Depends(caught_up)]
NightRange = Annotated[Nights, Depends(night_range)]


def floating_support_within_reach(store: Placements, principal: Principal, episode_id: UUID) -> None:
    """403 for a district officer and another district's floating support, or a provider and an episode in a
    scheme not theirs."""
    if principal.is_district_officer or principal.role is Role.provider:
        episode = store.get_floating_support(episode_id)
        principal.confine_to(episode.district)
        principal.confine_to_provider(episode.provider_id)
