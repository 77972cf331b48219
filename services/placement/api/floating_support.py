"""Floating support: starting and ending an episode (support attached to the young person, alongside a
placement or in their own home), reading it, the open episodes of each scheme, and the data-quality count of
departures whose destination is not known.

An episode is read from its own events (never behind a write); the lists come from read models and take
`after=`. Starting takes `after` too, for a case the referral service has only just recorded.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter

from services.placement import handlers
from services.placement.domain import NoFloatingSupportNow
from services.placement.projections import departures, floating_support

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
    floating_support_within_reach,
    scheme_within_reach,
)
from .schemas import (
    Changed,
    DestinationsNotKnown,
    FloatingSupportEnding,
    FloatingSupportView,
    FloatingSupportWritten,
    NewFloatingSupport,
    OpenFloatingSupport,
)

router = APIRouter(tags=["floating support"])


@router.post("/floating-support", status_code=201)
def start_floating_support(body: NewFloatingSupport, store: Store, runtime: Runtime, context: Context,
                           _: CaughtUp, caller: PlacementWriter) -> FloatingSupportWritten:
    """Start floating support (FloatingSupportStarted; the scheme lets a support place: UnitAllocated), alongside
    a placement or not. 422 unless the scheme gives floating support; 409 if it has no place free, the case is
    closed, or the young person has floating support already. A provider starts it in their own schemes only; a
    district officer for their own district's cases only."""
    case_within_reach(store, caller, body.case_id)
    scheme_within_reach(store, caller, body.scheme_id)
    started = handlers.start_floating_support(store, context, handlers.StartFloatingSupport(**dict(body)))
    return FloatingSupportWritten(episode_id=started.id, case_id=started.case_id, person_ref=started.person_ref,
                                  position=runtime.saved(started.position))


@router.post("/floating-support/{episode_id}/ending")
def end_floating_support(episode_id: UUID, body: FloatingSupportEnding, store: Store, runtime: Runtime,
                         context: Context, caller: PlacementWriter) -> Changed:
    """End floating support (FloatingSupportEnded; UnitReleased), planned or not, with where the young person
    then lived (e.g. remained_in_own_home)."""
    floating_support_within_reach(store, caller, episode_id)
    written = handlers.end_floating_support(
        store, context, handlers.EndFloatingSupport(episode_id=episode_id, **dict(body)))
    return Changed(id=written.id, position=runtime.saved(written.position))


@router.get("/floating-support/{episode_id}")
def get_floating_support(episode_id: UUID, store: Store, today: Today,
                         caller: PlacementReader) -> FloatingSupportView:
    """A floating support episode: its scheme, when it started, and how it ended."""
    floating_support_within_reach(store, caller, episode_id)
    return views.floating_support_view(store.get_floating_support(episode_id), today)


@router.get("/young-people/{person_ref}/floating-support")
def get_current_floating_support(person_ref: UUID, store: Store, today: Today,
                                 caller: PlacementReader) -> FloatingSupportView:
    """The young person's current floating support (404 if they have none)."""
    episode = store.current_floating_support(person_ref)
    if episode is None:
        raise NoFloatingSupportNow(f"young person {person_ref} has no floating support now")
    floating_support_within_reach(store, caller, episode.id)
    return views.floating_support_view(episode, today)


@router.get("/open-floating-support")
async def get_open_floating_support(runtime: Runtime, today: Today, district: District, _: CaughtUp,
                                    caller: PlacementReader, scheme_id: UUID | None = None) -> OpenFloatingSupport:
    """Open floating support episodes by scheme (a district officer: their own district's cases; a provider:
    their own schemes')."""
    district = caller.district_filter(district)
    async with runtime.pool.acquire() as conn:
        rows = await floating_support.open_floating_support(conn, district=district, scheme_id=scheme_id,
                                                            provider_id=caller.provider)
    return OpenFloatingSupport(as_of=today, district=district, schemes=views.schemes_supporting(rows, today))


@router.get("/destinations-not-known")
async def get_destinations_not_known(runtime: Runtime, district: District, _: CaughtUp, caller: WatchingCases,
                                     first_day: date | None = None,
                                     last_day: date | None = None) -> DestinationsNotKnown:
    """Departures from each scheme (moves, move-ons, breakdowns, ends of floating support) and how many had a
    destination not known: a data-quality measure. `district` is the case's; days are UTC dates, both included."""
    district = caller.district_filter(district)
    async with runtime.pool.acquire() as conn:
        rows = await departures.destinations_not_known(conn, district=district, first_day=first_day,
                                                       last_day=last_day)
    return views.destinations_not_known(rows, district=district, first_day=first_day, last_day=last_day)
