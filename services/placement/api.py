"""The placement HTTP API for providers and the placement team.

Writes and reads of one aggregate are plain `def` routes (the store is synchronous). Reads across the
catalogue or every placement come from the read models and take `after=<service>:<position>` (a
position a write returned: the read waits until it is projected). Starting a placement takes `after`
too, for a case the referral service has only just recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from eventsourcing.persistence import OperationalError
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Day, Moment, utc_now
from shared.contracts.placement import PlacementBrokeDown, PlacementEnded
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    PathwayStage,
    ProvisionType,
)
from shared.contracts.vocabulary import Cohort, Level, PanelDecision, PriorityBand, UnknownDistrict
from shared.service import After
from shared.web import Context, District, Runtime, Today, runtime_of, store_unavailable, today_utc  # noqa: F401 - tests override today_utc
from services.placement.projections import placements as read_model
from services.placement.application import (
    PlacementNotFound,
    Placements,
    ProviderNotFound,
    SchemeNotFound,
    UnknownScheme,
)
from services.placement.domain import Placement, PlacementConflict, PlacementRefused, Scheme

router = APIRouter()
T = TypeVar("T")

LONGEST_OCCUPANCY_RANGE = 366


def placements_of(request: Request) -> Placements:
    return runtime_of(request).store


async def caught_up(request: Request, after: After = None) -> None:
    """Wait until this service's projections have applied every position in `after`."""
    await runtime_of(request).wait_for_positions(after or [])


Store = Annotated[Placements, Depends(placements_of)]
CaughtUp = Annotated[None, Depends(caught_up)]


def refused(error: Exception, *loc: str) -> HTTPException:
    return HTTPException(422, [{"loc": list(loc) or ["body"], "msg": str(error), "type": type(error).__name__}])


def decided(write: Callable[[], T], *, scheme_field: str = "scheme_id") -> T:
    """Run a write, turning the placement rules' errors into 404, 409 and 422 responses."""
    try:
        return write()
    except (PlacementNotFound, SchemeNotFound, ProviderNotFound) as error:
        raise HTTPException(404, str(error)) from None
    except PlacementConflict as error:
        raise HTTPException(409, [{"msg": str(error), "type": type(error).__name__}]) from None
    except UnknownDistrict as error:
        raise refused(error, "body", "district") from None
    except UnknownScheme as error:
        raise refused(error, "body", scheme_field) from None
    except PlacementRefused as error:
        field = getattr(error, "field", None)
        raise (refused(error, "body", field) if field else refused(error)) from None
    except OperationalError:
        raise store_unavailable() from None


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the catalogue --------------------------------------------------------------------------------


class RegisterProvider(Command):
    """An organisation providing accommodation or support."""

    name: str = Field(min_length=1, max_length=200, description="The organisation's name (never a person's)")
    district: str = Field(description="The district the provider is registered in")
    occurred_at: Moment | None = Field(default=None, description="When it was registered; default now")


class ProviderWritten(BaseModel):
    provider_id: UUID
    position: str = Field(description="Pass as ?after= to a read of the catalogue to see this write")


@router.post("/providers", status_code=201, tags=["catalogue"])
def register_provider(command: RegisterProvider, store: Store, runtime: Runtime, context: Context) -> ProviderWritten:
    """Register a provider (ProviderRegistered)."""
    provider, position = decided(lambda: store.register_provider(
        context, name=command.name, district=command.district, occurred_at=command.occurred_at or utc_now()))
    return ProviderWritten(provider_id=provider.id, position=runtime.saved(position))


@router.get("/providers", tags=["catalogue"])
async def list_providers(runtime: Runtime, district: District, _: CaughtUp) -> list[dict]:
    """The providers in the catalogue."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.providers(conn, district)
    return [{"provider_id": str(row["provider_id"]), "name": row["name"], "district": row["district"]}
            for row in rows]


class RegisterScheme(Command):
    """A provider's scheme: what it provides, where, for how many, for how long."""

    provider_id: UUID
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(description="The district the scheme is in")
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    support_hours_per_week: float = Field(ge=0, le=168)
    capacity_units: int = Field(ge=1, le=10_000, description="Units: beds, rooms, lodgings or support places")
    opened_on: Day = Field(description="The first night its units can be let")
    max_stay_days: int | None = Field(
        default=None, ge=1, le=3650, description="Longest a stay may last; an assessment / emergency scheme: 91 at most "
                                        "(3 months), and 91 if not given")
    target_stay_days: int | None = Field(
        default=None, ge=1, le=3650, description="The average stay aimed for; an assessment / emergency scheme: 42 "
                                        "(6 weeks) if not given")
    occurred_at: Moment | None = Field(default=None, description="When it was registered; default now")


class SchemeWritten(BaseModel):
    scheme_id: UUID
    position: str


@router.post("/schemes", status_code=201, tags=["catalogue"])
def register_scheme(command: RegisterScheme, store: Store, runtime: Runtime, context: Context) -> SchemeWritten:
    """Register a scheme of a provider (SchemeRegistered)."""
    facts = command.model_dump(exclude={"occurred_at"})
    scheme, position = decided(lambda: store.register_scheme(
        context, **facts, occurred_at=command.occurred_at or utc_now()))
    return SchemeWritten(scheme_id=scheme.id, position=runtime.saved(position))


class ChangeCapacity(Command):
    """The scheme's capacity from a day on."""

    units: int = Field(ge=0, le=10_000)
    effective_from: Day
    occurred_at: Moment | None = Field(default=None, description="When it was decided; default now")


class Changed(BaseModel):
    id: UUID
    position: str


@router.post("/schemes/{scheme_id}/capacity", tags=["catalogue"])
def change_capacity(scheme_id: UUID, command: ChangeCapacity, store: Store, runtime: Runtime,
                    context: Context) -> Changed:
    """Change a scheme's capacity from a day on (SchemeCapacityChanged); never below the units let."""
    position = decided(lambda: store.change_capacity(
        context, scheme_id, units=command.units, effective_from=command.effective_from,
        occurred_at=command.occurred_at or utc_now()))
    return Changed(id=scheme_id, position=runtime.saved(position))


class SchemeView(BaseModel):
    """A scheme, with its units tonight (from the scheme's own events: never behind a write)."""

    scheme_id: UUID
    provider_id: UUID
    name: str
    district: str
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    support_hours_per_week: float
    opened_on: date
    max_stay_days: int | None
    target_stay_days: int | None
    capacity: int = Field(description="Units tonight")
    let: int = Field(description="Units let tonight")
    vacant: int = Field(description="Units empty tonight (voids)")
    free_from_tonight: int = Field(description="Units a placement starting tonight can take: free tonight and on "
                                               "every later night (a capacity cut or a later letting counts)")


def scheme_view(scheme: Scheme, tonight: date) -> SchemeView:
    return SchemeView(
        scheme_id=scheme.id, provider_id=scheme.provider_id, name=scheme.name, district=scheme.district,
        provision_type=scheme.provision_type, pathway_stage=scheme.pathway_stage, support_level=scheme.support_level,
        support_hours_per_week=scheme.support_hours_per_week, opened_on=scheme.opened_on,
        max_stay_days=scheme.max_stay_days, target_stay_days=scheme.target_stay_days,
        capacity=scheme.capacity_on(tonight), let=scheme.occupied_on(tonight), vacant=scheme.vacant_on(tonight),
        free_from_tonight=scheme.free_from(tonight))


@router.get("/schemes", tags=["catalogue"])
async def list_schemes(
    runtime: Runtime, district: District, _: CaughtUp,
    pathway_stage: PathwayStage | None = None, support_level: Level | None = None,
    provision_type: ProvisionType | None = None,
) -> list[dict]:
    """The schemes in the catalogue, by district, pathway stage, support level and provision type."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.schemes_matching(conn, district=district, pathway_stage=pathway_stage,
                                                 support_level=support_level, provision_type=provision_type)
    return [{key: (str(value) if isinstance(value, UUID) else value) for key, value in row.items()
             if key != "last_sequence"} for row in rows]


@router.get("/schemes/{scheme_id}", tags=["catalogue"])
def get_scheme(scheme_id: UUID, store: Store, today: Today) -> SchemeView:
    """A scheme and its units tonight."""
    return scheme_view(decided(lambda: store.get_scheme(scheme_id)), today)


class NightView(BaseModel):
    night: date
    capacity: int
    let: int
    void: int


class Occupancy(BaseModel):
    """A scheme's units night by night: capacity, units let and voids, and utilisation over the range."""

    scheme_id: UUID
    first_night: date
    last_night: date
    unit_nights: int = Field(description="Sum of capacity over the nights")
    let_unit_nights: int
    void_unit_nights: int
    utilisation_percent: float | None = Field(description="Let unit-nights as % of unit-nights; none if no capacity")
    nights: list[NightView]


@router.get("/schemes/{scheme_id}/occupancy", tags=["catalogue"])
def get_occupancy(
    scheme_id: UUID, store: Store,
    first_night: Annotated[date, Query(description="First night of the range")],
    last_night: Annotated[date, Query(description="Last night of the range (included)")],
) -> Occupancy:
    """Capacity, units let and voids for each night of a range (at most 366 nights)."""
    if last_night < first_night or (last_night - first_night).days >= LONGEST_OCCUPANCY_RANGE:
        raise HTTPException(422, [{"loc": ["query", "last_night"], "type": "occupancy_range",
                                   "msg": f"give 1 to {LONGEST_OCCUPANCY_RANGE} nights, first_night first"}])
    nights = decided(lambda: store.get_scheme(scheme_id)).occupancy(first_night, last_night)
    unit_nights = sum(n.capacity for n in nights)
    let = sum(min(n.occupied, n.capacity) for n in nights)
    return Occupancy(
        scheme_id=scheme_id, first_night=first_night, last_night=last_night, unit_nights=unit_nights,
        let_unit_nights=let, void_unit_nights=sum(n.void for n in nights),
        utilisation_percent=round(100 * let / unit_nights, 1) if unit_nights else None,
        nights=[NightView(night=n.night, capacity=n.capacity, let=n.occupied, void=n.void) for n in nights])


class Vacancies(BaseModel):
    """Schemes with units empty tonight."""

    as_of: date
    district: str | None
    schemes: list[SchemeView]


@router.get("/vacancies", tags=["catalogue"])
async def get_vacancies(
    runtime: Runtime, today: Today, district: District, _: CaughtUp,
    pathway_stage: PathwayStage | None = None, support_level: Level | None = None,
    provision_type: ProvisionType | None = None,
) -> Vacancies:
    """Schemes with a unit free tonight, by district, pathway stage, support level and provision type.
    Which schemes match comes from the catalogue read model; their units from each scheme's own events."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.schemes_matching(conn, district=district, pathway_stage=pathway_stage,
                                                 support_level=support_level, provision_type=provision_type)
    schemes = await asyncio.to_thread(runtime.store.schemes, [row["scheme_id"] for row in rows])
    views = [scheme_view(scheme, today) for scheme in schemes]
    return Vacancies(as_of=today, district=district, schemes=[view for view in views if view.free_from_tonight > 0])


# -- placements -----------------------------------------------------------------------------------


class PlacementChange(Command):
    occurred_at: Moment = Field(description="When it happened")


class StartPlacement(PlacementChange):
    """A young person moving into a scheme. Their case must be open; unless the scheme is an assessment /
    emergency one, its latest panel decision must have allocated a service."""

    case_id: UUID
    scheme_id: UUID


class PlacementWritten(BaseModel):
    placement_id: UUID
    case_id: UUID
    person_ref: UUID
    position: str = Field(description="Pass as ?after= to a journeys read to see this write")


@router.post("/placements", status_code=201, tags=["placements"])
def start_placement(command: StartPlacement, store: Store, runtime: Runtime, context: Context,
                    _: CaughtUp) -> PlacementWritten:
    """Start a placement (PlacementStarted; the scheme lets a unit: UnitAllocated). 409 if the scheme is full,
    the case closed or not allocated a service, or the young person already placed."""
    placement, position = decided(lambda: store.start_placement(context, **dict(command)))
    return PlacementWritten(placement_id=placement.id, case_id=placement.case_id, person_ref=placement.person_ref,
                            position=runtime.saved(position))


class MovePlacement(PlacementChange):
    """The young person moving to another scheme within the pathway."""

    to_scheme_id: UUID
    direction: MoveDirection
    planned: bool
    overlap_until: Day | None = Field(
        default=None, description="A planned overlap: keep the unit left behind until this day (planned moves only)")


@router.post("/placements/{placement_id}/moves", tags=["placements"])
def move_placement(placement_id: UUID, command: MovePlacement, store: Store, runtime: Runtime,
                   context: Context) -> Changed:
    """Move the young person to another scheme (PlacementMoved; UnitAllocated and UnitReleased)."""
    position = decided(lambda: store.move_placement(context, placement_id, **dict(command)),
                       scheme_field="to_scheme_id")
    return Changed(id=placement_id, position=runtime.saved(position))


class EndPlacement(PlacementChange):
    """The young person moving on: planned or not, to a destination."""

    planned: bool
    destination: Destination


@router.post("/placements/{placement_id}/ending", tags=["placements"])
def end_placement(placement_id: UUID, command: EndPlacement, store: Store, runtime: Runtime,
                  context: Context) -> Changed:
    """End the placement with a move-on (PlacementEnded; UnitReleased)."""
    position = decided(lambda: store.end_placement(context, placement_id, **dict(command)))
    return Changed(id=placement_id, position=runtime.saved(position))


class RecordBreakdown(PlacementChange):
    """The placement breaking down."""

    reason: BreakdownReason
    destination: Destination | None = Field(
        default=None, description="Where the young person went, if known (abandonment: abandoned; custody: custody; "
                                  "hospital: hospital_or_care_home; otherwise other_or_not_known)")


@router.post("/placements/{placement_id}/breakdown", tags=["placements"])
def record_breakdown(placement_id: UUID, command: RecordBreakdown, store: Store, runtime: Runtime,
                     context: Context) -> Changed:
    """Record that the placement broke down (PlacementBrokeDown; UnitReleased)."""
    position = decided(lambda: store.record_breakdown(context, placement_id, **dict(command)))
    return Changed(id=placement_id, position=runtime.saved(position))


class RecordBedAndBreakfastNights(Command):
    """Nights the young person spent in bed and breakfast."""

    first_night: Day
    nights: int = Field(ge=1, le=366)


@router.post("/placements/{placement_id}/bed-and-breakfast-nights", tags=["placements"])
def record_bed_and_breakfast_nights(placement_id: UUID, command: RecordBedAndBreakfastNights, store: Store,
                                    runtime: Runtime, context: Context) -> Changed:
    """Count B&B nights (BedAndBreakfastNightsRecorded): only nights spent in a B&B scheme of the placement,
    each once."""
    position = decided(lambda: store.record_bed_and_breakfast_nights(context, placement_id, **dict(command)))
    return Changed(id=placement_id, position=runtime.saved(position))


class StayView(BaseModel):
    scheme_id: UUID
    provision_type: ProvisionType
    from_night: date
    until: date | None


class Ending(BaseModel):
    kind: Literal["ended", "broke_down"]
    planned: bool
    destination: Destination
    reason: BreakdownReason | None


class PlacementView(BaseModel):
    """A placement as its own events tell it (never behind a write)."""

    placement_id: UUID
    placement_number: int
    case_id: UUID
    person_ref: UUID = Field(description="The young person's pseudonym")
    district: str
    cohort: Cohort
    status: Literal["open", "ended", "broke_down"]
    started_at: datetime
    scheme_id: UUID = Field(description="The scheme the young person is in (or left last)")
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    stay_started_at: datetime
    days_in_scheme: int = Field(description="Whole days from the night the stay began to today, or to the end")
    days_in_placement: int
    ended_at: datetime | None
    ending: Ending | None
    stays: list[StayView]
    bed_and_breakfast_nights: int
    version: int


def placement_view(placement: Placement, today: date) -> PlacementView:
    until = placement.ended_at.astimezone(UTC).date() if placement.ended_at else today
    ending = placement.ending
    return PlacementView(
        placement_id=placement.id, placement_number=placement.number, case_id=placement.case_id,
        person_ref=placement.person_ref, district=placement.district, cohort=placement.cohort,
        status="open" if ending is None else "ended" if isinstance(ending, PlacementEnded) else "broke_down",
        started_at=placement.started_at, scheme_id=placement.scheme_id, provision_type=placement.provision_type,
        pathway_stage=placement.pathway_stage, support_level=placement.support_level,
        stay_started_at=placement.stay_started_at, days_in_scheme=placement.days_in_scheme(until),
        days_in_placement=placement.days_in_placement(until), ended_at=placement.ended_at,
        ending=None if ending is None else Ending(
            kind="ended" if isinstance(ending, PlacementEnded) else "broke_down",
            planned=isinstance(ending, PlacementEnded) and ending.planned, destination=ending.destination,
            reason=ending.reason if isinstance(ending, PlacementBrokeDown) else None),
        stays=[StayView(scheme_id=s.scheme_id, provision_type=s.provision_type, from_night=s.from_night,
                        until=s.until) for s in placement.stays],
        bed_and_breakfast_nights=len(placement.bed_and_breakfast_nights), version=placement.version)


@router.get("/placements/{placement_id}", tags=["placements"])
def get_placement(placement_id: UUID, store: Store, today: Today) -> PlacementView:
    """A placement: where the young person is, every stay, and how it ended."""
    return placement_view(decided(lambda: store.get_placement(placement_id)), today)


@router.get("/young-people/{person_ref}/placement", tags=["placements"])
def get_current_placement(person_ref: UUID, store: Store, today: Today) -> PlacementView:
    """The young person's current placement (404 if they are in none)."""
    placement = store.current_placement(person_ref)
    if placement is None:
        raise HTTPException(404, f"young person {person_ref} is in no placement now")
    return placement_view(placement, today)


class StayOverLimit(BaseModel):
    placement_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str = Field(description="The case's district")
    scheme_id: UUID
    scheme_name: str
    scheme_district: str
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    stay_started_at: datetime
    days_in_scheme: int
    max_stay_days: int | None
    target_stay_days: int | None
    days_over: int = Field(description="Days beyond the limit asked for")


class StaysOverLimit(BaseModel):
    """Open stays longer than their scheme's limit, longest over first."""

    as_of: date
    limit: Literal["maximum", "target"]
    district: str | None
    stays: list[StayOverLimit]


@router.get("/stays-over-limit", tags=["placements"])
async def get_stays_over_limit(
    runtime: Runtime, today: Today, district: District, _: CaughtUp,
    limit: Annotated[Literal["maximum", "target"], Query(
        description="maximum: over the scheme's maximum stay; target: over its target (average) stay")] = "maximum",
) -> StaysOverLimit:
    """Young people whose stay in their current scheme has lasted longer than the scheme's limit (an
    assessment / emergency bed: 3 months at most, 6 weeks on average desirable)."""
    column = "max_stay_days" if limit == "maximum" else "target_stay_days"
    async with runtime.pool.acquire() as conn:
        rows = await read_model.stays_over_limit(conn, today=today, limit=column, district=district)
    return StaysOverLimit(as_of=today, limit=limit, district=district, stays=[
        StayOverLimit(**{k: v for k, v in row.items() if k != "limit_days"},
                      days_over=row["days_in_scheme"] - row["limit_days"]) for row in rows])


class AwaitingCase(BaseModel):
    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    support_level: Level | None
    priority_band: PriorityBand | None
    last_panel_date: date | None
    allocated_at: datetime = Field(description="When the panel decision allocating a service was made")
    days_waiting: int
    current_placement_id: UUID | None = Field(description="An emergency placement the young person is in meanwhile")


class AwaitingPlacement(BaseModel):
    """Cases a panel allocated a service that have not been placed since: longest waiting first."""

    as_of: date
    district: str | None
    cases: list[AwaitingCase]


@router.get("/cases-awaiting-placement", tags=["placements"])
async def get_cases_awaiting_placement(runtime: Runtime, today: Today, district: District,
                                       _: CaughtUp) -> AwaitingPlacement:
    """Open cases whose latest panel decision allocated a service and who have not been placed since."""
    async with runtime.pool.acquire() as conn:
        rows = await read_model.cases_awaiting_placement(conn, district=district)
    return AwaitingPlacement(as_of=today, district=district, cases=[
        AwaitingCase(**{k: v for k, v in row.items() if k != "current_scheme_id"},
                     days_waiting=(today - row["allocated_at"].astimezone(UTC).date()).days) for row in rows])


class KnownCaseView(BaseModel):
    """What the placement service knows of a case, from the referral service's events."""

    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    status: Literal["open", "closed"]
    last_panel_decision: PanelDecision | None
    allocated: bool


@router.get("/cases/{case_id}", tags=["placements"])
async def get_known_case(case_id: UUID, runtime: Runtime, _: CaughtUp) -> KnownCaseView:
    """What the placement service has heard of a case (take `after=referral:<position>` to wait for it)."""
    async with runtime.pool.acquire() as conn:
        row = await read_model.known_case(conn, case_id)
    if row is None:
        raise HTTPException(404, f"the placement service has not heard of case {case_id}")
    return KnownCaseView(case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"],
                         cohort=row["cohort"], status=row["status"], last_panel_decision=row["last_panel_decision"],
                         allocated=row["allocated_at"] is not None)
