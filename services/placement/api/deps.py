"""What the placement routes take, as `Annotated` aliases (the shared ones are in `shared.web`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from services.placement.application import Placements
from shared.service import After
from shared.web import Context, District, Runtime, Today, runtime_of

__all__ = ["CaughtUp", "Context", "District", "NightRange", "Runtime", "Store", "Today"]

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
