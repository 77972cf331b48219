"""One handler per command: whatever the door (an HTTP route today, an inbox tomorrow), a change to the
placement service is a command object sent here.

Commands are orders (`StartPlacement`); the events they lead to are facts (`PlacementStarted`). Each handler
makes one call on the store and returns what was written and its position; the rules' errors (refused,
conflict, not found) pass through to be mapped once by the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from services.placement.application import Placements
from services.placement.domain import check_new_destination, check_new_provision_type
from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Level

# -- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterProvider:
    name: str
    district: str
    occurred_at: datetime | None = None
    """None: now."""


@dataclass(frozen=True, kw_only=True)
class RegisterScheme:
    provider_id: UUID
    name: str
    district: str
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    support_hours_per_week: float
    capacity_units: int
    opened_on: date
    max_stay_days: int | None = None
    target_stay_days: int | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeCapacity:
    scheme_id: UUID
    units: int
    effective_from: date
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeStayLimits:
    scheme_id: UUID
    max_stay_days: int | None
    target_stay_days: int | None
    effective_from: date
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RecordOfstedRegistration:
    scheme_id: UUID
    registration_number: str
    registered_from: date
    registered_until: date | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class EndOfstedRegistration:
    scheme_id: UUID
    registration_number: str
    ended_on: date
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StartPlacement:
    case_id: UUID
    scheme_id: UUID
    route: PlacementRoute
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class MovePlacement:
    placement_id: UUID
    to_scheme_id: UUID
    direction: MoveDirection
    planned: bool
    occurred_at: datetime
    overlap_until: date | None = None
    reason: MoveReason | None = None
    """Why an unplanned move happened (none for a planned one)."""


@dataclass(frozen=True, kw_only=True)
class EndPlacement:
    placement_id: UUID
    planned: bool
    destination: Destination
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class RecordBreakdown:
    placement_id: UUID
    reason: BreakdownReason
    occurred_at: datetime
    destination: Destination | None = None


@dataclass(frozen=True, kw_only=True)
class RecordBedAndBreakfastNights:
    placement_id: UUID
    first_night: date
    nights: int


# -- floating support commands


@dataclass(frozen=True, kw_only=True)
class StartFloatingSupport:
    case_id: UUID
    scheme_id: UUID
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class EndFloatingSupport:
    episode_id: UUID
    planned: bool
    destination: Destination
    occurred_at: datetime
    hours_delivered: float | None = None


# -- what handlers return -------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """The aggregate a command changed or created, and the store's position after the write."""

    id: UUID
    position: int


@dataclass(frozen=True)
class Placed(Written):
    """A placement started: its id, and whose it is."""

    case_id: UUID
    person_ref: UUID


# -- handlers -------------------------------------------------------------------------------------


def register_provider(store: Placements, context: EventContext, command: RegisterProvider) -> Written:
    provider, position = store.register_provider(context, name=command.name, district=command.district,
                                                 occurred_at=command.occurred_at or utc_now())
    return Written(provider.id, position)


def register_scheme(store: Placements, context: EventContext, command: RegisterScheme) -> Written:
    check_new_provision_type(command.provision_type)
    facts = asdict(command) | {"occurred_at": command.occurred_at or utc_now()}
    scheme, position = store.register_scheme(context, **facts)
    return Written(scheme.id, position)


def change_capacity(store: Placements, context: EventContext, command: ChangeCapacity) -> Written:
    position = store.change_capacity(context, command.scheme_id, units=command.units,
                                     effective_from=command.effective_from,
                                     occurred_at=command.occurred_at or utc_now())
    return Written(command.scheme_id, position)


def change_stay_limits(store: Placements, context: EventContext, command: ChangeStayLimits) -> Written:
    position = store.change_stay_limits(context, command.scheme_id, max_stay_days=command.max_stay_days,
                                        target_stay_days=command.target_stay_days,
                                        effective_from=command.effective_from,
                                        occurred_at=command.occurred_at or utc_now())
    return Written(command.scheme_id, position)


def record_ofsted_registration(store: Placements, context: EventContext, command: RecordOfstedRegistration) -> Written:
    position = store.record_ofsted_registration(context, command.scheme_id, number=command.registration_number,
                                                registered_from=command.registered_from,
                                                registered_until=command.registered_until,
                                                occurred_at=command.occurred_at or utc_now())
    return Written(command.scheme_id, position)


def end_ofsted_registration(store: Placements, context: EventContext, command: EndOfstedRegistration) -> Written:
    position = store.end_ofsted_registration(context, command.scheme_id, number=command.registration_number,
                                             ended_on=command.ended_on, occurred_at=command.occurred_at or utc_now())
    return Written(command.scheme_id, position)


def start_placement(store: Placements, context: EventContext, command: StartPlacement) -> Placed:
    placement, position = store.start_placement(context, case_id=command.case_id, scheme_id=command.scheme_id,
                                                route=command.route, occurred_at=command.occurred_at)
    return Placed(placement.id, position, case_id=placement.case_id, person_ref=placement.person_ref)


def move_placement(store: Placements, context: EventContext, command: MovePlacement) -> Written:
    position = store.move_placement(context, command.placement_id, to_scheme_id=command.to_scheme_id,
                                    direction=command.direction, planned=command.planned, reason=command.reason,
                                    overlap_until=command.overlap_until, occurred_at=command.occurred_at)
    return Written(command.placement_id, position)


def end_placement(store: Placements, context: EventContext, command: EndPlacement) -> Written:
    check_new_destination(command.destination)
    position = store.end_placement(context, command.placement_id, planned=command.planned,
                                   destination=command.destination, occurred_at=command.occurred_at)
    return Written(command.placement_id, position)


def record_breakdown(store: Placements, context: EventContext, command: RecordBreakdown) -> Written:
    check_new_destination(command.destination)
    position = store.record_breakdown(context, command.placement_id, reason=command.reason,
                                      destination=command.destination, occurred_at=command.occurred_at)
    return Written(command.placement_id, position)


def record_bed_and_breakfast_nights(store: Placements, context: EventContext,
                                    command: RecordBedAndBreakfastNights) -> Written:
    position = store.record_bed_and_breakfast_nights(context, command.placement_id, first_night=command.first_night,
                                                     nights=command.nights)
    return Written(command.placement_id, position)


# -- floating support handlers


def start_floating_support(store: Placements, context: EventContext, command: StartFloatingSupport) -> Placed:
    episode, position = store.start_floating_support(context, case_id=command.case_id, scheme_id=command.scheme_id,
                                                     occurred_at=command.occurred_at)
    return Placed(episode.id, position, case_id=episode.case_id, person_ref=episode.person_ref)


def end_floating_support(store: Placements, context: EventContext, command: EndFloatingSupport) -> Written:
    position = store.end_floating_support(context, command.episode_id, planned=command.planned,
                                          destination=command.destination, hours_delivered=command.hours_delivered,
                                          occurred_at=command.occurred_at)
    return Written(command.episode_id, position)


HANDLERS: dict[type, Callable[[Placements, EventContext, Any], Written]] = {
    RegisterProvider: register_provider,
    RegisterScheme: register_scheme,
    ChangeCapacity: change_capacity,
    StartPlacement: start_placement,
    MovePlacement: move_placement,
    EndPlacement: end_placement,
    RecordBreakdown: record_breakdown,
    RecordBedAndBreakfastNights: record_bed_and_breakfast_nights,
    ChangeStayLimits: change_stay_limits,
    RecordOfstedRegistration: record_ofsted_registration,
    EndOfstedRegistration: end_ofsted_registration,
    StartFloatingSupport: start_floating_support,
    EndFloatingSupport: end_floating_support,
}


def handle(store: Placements, context: EventContext, command: Any) -> Written:
    """Send any placement command to its handler (for doors that take more than one kind of command)."""
    return HANDLERS[type(command)](store, context, command)
