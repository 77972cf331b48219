"""Placements: starting one, moving the young person, the move-on or breakdown, B&B nights, and reading them.

A placement and a scheme are read from their own events (never behind a write); stays over their limit come
from the placements read model and take `after=`. Starting takes `after` too, for a case the referral
service has only just recorded.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from services.placement import handlers
from services.placement.domain import YoungPersonNotPlaced
from services.placement.projections import placements as read_model

from . import views
from .deps import (
    CaughtUp,
    Context,
    District,
    PlacementReader,
    PlacementWriter,
    Runtime,
    Store,
    Today,
    WatchingCases,
    case_within_reach,
    placement_within_reach,
    scheme_within_reach,
)
from .schemas import (
    BedAndBreakfastNights,
    Breakdown,
    Changed,
    Move,
    MoveOn,
    NewPlacement,
    PlacementView,
    PlacementWritten,
    StaysOverLimit,
)

router = APIRouter(tags=["placements"])


@router.post("/placements", status_code=201)
def start_placement(body: NewPlacement, store: Store, runtime: Runtime, context: Context,
                    _: CaughtUp, caller: PlacementWriter) -> PlacementWritten:
    """Start a placement (PlacementStarted; the scheme lets a unit: UnitAllocated). 409 if the scheme is full,
    the case closed or not allocated a service when the district's rule needs it for the route, the young person
    already placed, or a looked-after or care-leaving 16/17 year old would go into unregistered supported
    accommodation. A provider places in their own schemes only; a district officer their own district's cases
    only."""
    case_within_reach(store, caller, body.case_id)
    scheme_within_reach(store, caller, body.scheme_id)
    placed = handlers.start_placement(store, context, handlers.StartPlacement(**dict(body)))
    return PlacementWritten(placement_id=placed.id, case_id=placed.case_id, person_ref=placed.person_ref,
                            position=runtime.saved(placed.position))


@router.post("/placements/{placement_id}/moves")
def move_placement(placement_id: UUID, body: Move, store: Store, runtime: Runtime, context: Context,
                   caller: PlacementWriter) -> Changed:
    """Move the young person to another scheme (PlacementMoved; UnitAllocated and UnitReleased). A provider
    moves young people between their own schemes only: a move to another provider's scheme is arranged by the
    district or children's services."""
    placement_within_reach(store, caller, placement_id)
    scheme_within_reach(store, caller, body.to_scheme_id)
    written = handlers.move_placement(store, context, handlers.MovePlacement(placement_id=placement_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/placements/{placement_id}/ending")
def end_placement(placement_id: UUID, body: MoveOn, store: Store, runtime: Runtime, context: Context,
                  caller: PlacementWriter) -> Changed:
    """End the placement with a move-on (PlacementEnded; UnitReleased)."""
    placement_within_reach(store, caller, placement_id)
    written = handlers.end_placement(store, context, handlers.EndPlacement(placement_id=placement_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/placements/{placement_id}/breakdown")
def record_breakdown(placement_id: UUID, body: Breakdown, store: Store, runtime: Runtime,
                     context: Context, caller: PlacementWriter) -> Changed:
    """Record that the placement broke down (PlacementBrokeDown; UnitReleased)."""
    placement_within_reach(store, caller, placement_id)
    written = handlers.record_breakdown(store, context,
                                        handlers.RecordBreakdown(placement_id=placement_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.post("/placements/{placement_id}/bed-and-breakfast-nights")
def record_bed_and_breakfast_nights(placement_id: UUID, body: BedAndBreakfastNights, store: Store,
                                    runtime: Runtime, context: Context, caller: PlacementWriter) -> Changed:
    """Count B&B nights (BedAndBreakfastNightsRecorded): only nights spent in a B&B scheme of the placement,
    each once."""
    placement_within_reach(store, caller, placement_id)
    written = handlers.record_bed_and_breakfast_nights(
        store, context, handlers.RecordBedAndBreakfastNights(placement_id=placement_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.get("/placements/{placement_id}")
def get_placement(placement_id: UUID, store: Store, today: Today, caller: PlacementReader) -> PlacementView:
    """A placement: where the young person is, every stay, and how it ended."""
    placement_within_reach(store, caller, placement_id)
    return views.placement_view(store.get_placement(placement_id), today)


@router.get("/young-people/{person_ref}/placement")
def get_current_placement(person_ref: UUID, store: Store, today: Today, caller: PlacementReader) -> PlacementView:
    """The young person's current placement (404 if they are in none)."""
    placement = store.current_placement(person_ref)
    if placement is None:
        raise YoungPersonNotPlaced(f"young person {person_ref} is in no placement now")
    placement_within_reach(store, caller, placement.id)
    return views.placement_view(placement, today)


@router.get("/stays-over-limit")
async def get_stays_over_limit(
    runtime: Runtime, today: Today, district: District, _: CaughtUp, caller: WatchingCases,
    limit: Annotated[Literal["maximum"], Query(
        description="Only the maximum: a target is an average, reported by GET /average-stays, never applied "
                    "to one stay")] = "maximum",
) -> StaysOverLimit:
    """Young people whose stay in their current scheme has lasted longer than the scheme's maximum stay (the
    maximum in force on the night the stay began)."""
    district = caller.district_filter(district)
    async with runtime.pool.acquire() as conn:
        rows = await read_model.stays_over_limit(conn, today=today, district=district)
    return StaysOverLimit(as_of=today, limit=limit, district=district,
                          stays=[views.stay_over_limit(row) for row in rows])
