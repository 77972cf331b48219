"""Events recorded by the placement service: schemes, units and every placement along the pathway.

Placement events are about a young person's case: their envelope carries the case's `case_id`,
`person_ref` and `district` (the case's district, whatever district the scheme is in).
Catalogue events (providers, schemes, units let and released) are about a scheme, not a young person:
their `case_id` and `person_ref` are the nil UUID `NO_CASE`, and their `district` is the scheme's or
provider's, so a district subscribed to its own subjects sees the lettings of its schemes by
`placement_id` only: a placement's id is a keyed hash of the young person's `person_ref`, so without
the placement service's key nobody can tell whose lettings they are.
"""

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from shared.contracts.envelope import Event
from shared.contracts.placement_vocabulary import (
    RETIRED_DESTINATIONS,
    RETIRED_PROVISION_TYPES,
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Cohort, Level, known_district

NO_CASE = UUID(int=0)
"""The `case_id` and `person_ref` of catalogue events: they are about no young person."""


class PlacementEvent(Event):
    service = "placement"


class CatalogueEvent(PlacementEvent):
    """An event about the catalogue of providers and schemes, not about any young person."""

    case_id: UUID = Field(default=NO_CASE, description="Always the nil UUID: not about a case")
    person_ref: UUID = Field(default=NO_CASE, description="Always the nil UUID: not about a young person")

    @field_validator("case_id", "person_ref")
    @classmethod
    def _about_no_case(cls, value: UUID) -> UUID:
        if value != NO_CASE:
            raise ValueError("a catalogue event is about no case: case_id and person_ref must be the nil UUID")
        return value


# -- the catalogue ------------------------------------------------------------------------------


class ProviderRegistered(CatalogueEvent):
    """A provider of accommodation or support (an organisation) joined the catalogue."""

    event_type: Literal["ProviderRegistered"] = "ProviderRegistered"
    provider_id: UUID
    name: str = Field(min_length=1, max_length=200, description="The organisation's name")


class SchemeRegistered(CatalogueEvent):
    """A provider's scheme joined the catalogue with its provision type, pathway stage, support and capacity."""

    event_type: Literal["SchemeRegistered"] = "SchemeRegistered"
    schema_version: int = 2
    scheme_id: UUID
    provider_id: UUID
    name: str = Field(min_length=1, max_length=200)
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    support_hours_per_week: float = Field(ge=0, le=168)
    capacity_units: int = Field(ge=1, description="Units (beds, rooms, lodgings or support places)")
    opened_on: date = Field(description="The first night the units can be let")
    max_stay_days: int | None = Field(default=None, ge=1, le=3650,
                                      description="Longest a stay may last; none: no limit")
    target_stay_days: int | None = Field(default=None, ge=1, le=3650,
                                         description="The average stay the scheme aims for")

    @field_validator("provision_type")
    @classmethod
    def _not_retired(cls, value: ProvisionType) -> ProvisionType:
        return _current_provision_type(value)


class SchemeCapacityChanged(CatalogueEvent):
    """A scheme's capacity changed from a day on (units opened, or closed for refurbishment...)."""

    event_type: Literal["SchemeCapacityChanged"] = "SchemeCapacityChanged"
    scheme_id: UUID
    units: int = Field(ge=0)
    previous_units: int = Field(ge=0)
    effective_from: date


# -- issue 11 (placement): stay limits and Ofsted registration, dated -------------------------------


class SchemeStayLimitsChanged(CatalogueEvent):
    """A scheme's maximum and target stays changed from a day on (its contract's terms); the registration's
    limits held until then."""

    event_type: Literal["SchemeStayLimitsChanged"] = "SchemeStayLimitsChanged"
    scheme_id: UUID
    max_stay_days: int | None = Field(ge=1, le=3650, description="Longest a stay may last; none: no limit")
    target_stay_days: int | None = Field(ge=1, le=3650, description="The average stay the scheme aims for; none: "
                                                                     "no target")
    effective_from: date = Field(description="The first night the new limits apply to: a stay is held to the "
                                             "limits in force on the night it began")


OFSTED_REGISTRATION_NUMBER = r"^[A-Z0-9]{6,12}$"
"""Ofsted's unique reference number (URN) of a registered setting: letters and digits, no personal data."""


class SchemeOfstedRegistrationRecorded(CatalogueEvent):
    """A scheme is registered with Ofsted as supported accommodation from a day (until a day, if known)."""

    event_type: Literal["SchemeOfstedRegistrationRecorded"] = "SchemeOfstedRegistrationRecorded"
    scheme_id: UUID
    registration_number: str = Field(pattern=OFSTED_REGISTRATION_NUMBER, description="Ofsted's URN")
    registered_from: date
    registered_until: date | None = Field(default=None, description="The first day it is no longer registered; "
                                                                     "none: until ended")


class SchemeOfstedRegistrationEnded(CatalogueEvent):
    """A scheme's Ofsted registration ended (cancelled, suspended, or the provider resigned it) from a day on."""

    event_type: Literal["SchemeOfstedRegistrationEnded"] = "SchemeOfstedRegistrationEnded"
    scheme_id: UUID
    registration_number: str = Field(pattern=OFSTED_REGISTRATION_NUMBER)
    ended_on: date = Field(description="The first day the scheme is no longer registered")


# -- end issue 11 (placement) ------------------------------------------------------------------------


class UnitAllocated(CatalogueEvent):
    """A unit of a scheme was let to a placement from a night on."""

    event_type: Literal["UnitAllocated"] = "UnitAllocated"
    scheme_id: UUID
    placement_id: UUID
    from_night: date


class UnitReleased(CatalogueEvent):
    """A placement's unit in a scheme became free: the night of `released_on` is no longer its."""

    event_type: Literal["UnitReleased"] = "UnitReleased"
    scheme_id: UUID
    placement_id: UUID
    released_on: date


# -- placements ---------------------------------------------------------------------------------


class SchemeFacts(PlacementEvent):
    """Facts about the scheme a placement is in, copied on the event so that readers need no catalogue."""

    scheme_id: UUID
    provider_id: UUID
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    scheme_district: str = Field(description="The district the scheme is in (may differ from the case's)")

    @field_validator("scheme_district")
    @classmethod
    def _known_scheme_district(cls, value: str) -> str:
        return known_district(value)

    @field_validator("provision_type")
    @classmethod
    def _visiting_support_read_as_accommodation_based(cls, value: ProvisionType) -> ProvisionType:
        # Placements stored before the split may name visiting_floating_support, whatever their schema version:
        # a placement is accommodation, so it was (Lancashire's) visiting support.
        return ProvisionType.visiting_support if value is ProvisionType.visiting_floating_support else value


class PlacementStarted(SchemeFacts):
    """A young person moved into a scheme: their placement starts."""

    event_type: Literal["PlacementStarted"] = "PlacementStarted"
    schema_version: int = 2
    placement_id: UUID
    placement_number: int = Field(ge=1, description="The young person's 1st, 2nd, ... placement")
    cohort: Cohort = Field(description="The young person's cohort on the day the placement started")
    route: PlacementRoute = Field(
        description="Who made the placement: a panel, the placement team, a care leaver's pathway plan, children's "
                    "services, or an emergency placement between panels (reported to the next panel). Schema 1's "
                    "allocated_by_panel true is panel, false emergency")


class PlacementMoved(SchemeFacts):
    """The young person moved to another scheme within the pathway (the scheme facts are the new scheme's)."""

    event_type: Literal["PlacementMoved"] = "PlacementMoved"
    schema_version: int = 2
    placement_id: UUID
    from_scheme_id: UUID
    direction: MoveDirection = Field(description="Checked against the schemes: a step up goes to a higher support "
                                                 "level (or the same with more hours), a step down to less, a lateral "
                                                 "move to the same level")
    planned: bool
    reason: MoveReason | None = Field(default=None, description="Why an unplanned move happened; none for a planned "
                                                                "move (and for schema 1 moves)")
    overlap_until: date | None = Field(
        default=None, description="A planned overlap: the young person keeps their unit in the scheme they left "
                                  "until this day")
    days_in_previous_scheme: int = Field(ge=0)


class PlacementBrokeDown(PlacementEvent):
    """The placement ended unplanned: the young person was evicted, given notice, left, or was taken away."""

    event_type: Literal["PlacementBrokeDown"] = "PlacementBrokeDown"
    schema_version: int = 2
    placement_id: UUID
    scheme_id: UUID
    reason: BreakdownReason
    destination: Destination = Field(description="not_known when nobody said where the young person went")
    days_in_scheme: int = Field(ge=0)
    days_in_placement: int = Field(ge=0)

    @field_validator("destination")
    @classmethod
    def _not_retired(cls, value: Destination) -> Destination:
        return _current_destination(value)


class PlacementEnded(PlacementEvent):
    """The young person left the pathway placement: a move-on, planned or not, to a destination."""

    event_type: Literal["PlacementEnded"] = "PlacementEnded"
    schema_version: int = 2
    placement_id: UUID
    scheme_id: UUID
    planned: bool
    destination: Destination
    days_in_scheme: int = Field(ge=0)
    days_in_placement: int = Field(ge=0)

    @field_validator("destination")
    @classmethod
    def _not_retired(cls, value: Destination) -> Destination:
        return _current_destination(value)


class BedAndBreakfastNightsRecorded(PlacementEvent):
    """Nights a young person spent in bed and breakfast: each one is counted."""

    event_type: Literal["BedAndBreakfastNightsRecorded"] = "BedAndBreakfastNightsRecorded"
    placement_id: UUID
    scheme_id: UUID
    first_night: date
    nights: int = Field(ge=1)
    cohort: Cohort = Field(description="The young person's cohort: B&B is unsuitable for 16/17 year olds")


# -- floating support ---------------------------------------------------------------------------


class FloatingSupportStarted(PlacementEvent):
    """Floating support started: support attached to the young person, not to a building, taking one support
    place of a floating support scheme; it runs alongside a placement or in the young person's own home."""

    event_type: Literal["FloatingSupportStarted"] = "FloatingSupportStarted"
    episode_id: UUID = Field(description="A keyed hash of the young person's person_ref and the episode's number")
    episode_number: int = Field(ge=1, description="The young person's 1st, 2nd, ... floating support episode")
    scheme_id: UUID
    provider_id: UUID
    scheme_district: str = Field(description="The district the scheme is in (may differ from the case's)")
    support_level: Level
    support_hours_per_week: float = Field(ge=0, le=168, description="The support the scheme gives each week")
    cohort: Cohort
    in_placement_id: UUID | None = Field(
        default=None, description="The placement the young person was in when the support started; none: not in a "
                                  "placement (in their own home, or elsewhere)")

    @field_validator("scheme_district")
    @classmethod
    def _known_scheme_district(cls, value: str) -> str:
        return known_district(value)


class FloatingSupportEnded(PlacementEvent):
    """A floating support episode ended, planned or not, with where the young person then lived (e.g. they
    remained in their own home); its support place is free again."""

    event_type: Literal["FloatingSupportEnded"] = "FloatingSupportEnded"
    episode_id: UUID
    scheme_id: UUID
    planned: bool
    destination: Destination
    days_supported: int = Field(ge=0, description="Whole days from the night support started to the day it ended")
    hours_delivered: float | None = Field(
        default=None, ge=0, le=100_000, description="Hours of support given over the episode, if the provider "
                                                   "counts them (for the cost per hour)")

    @field_validator("destination")
    @classmethod
    def _not_retired(cls, value: Destination) -> Destination:
        return _current_destination(value)


def _current_provision_type(value: ProvisionType) -> ProvisionType:
    if value in RETIRED_PROVISION_TYPES:
        raise ValueError(f"{value.value} is split into visiting_support and floating_support (schema 1 only)")
    return value


def _current_destination(value: Destination) -> Destination:
    if value in RETIRED_DESTINATIONS:
        raise ValueError(f"{value.value} is split into other and not_known (schema 1 only)")
    return value


EVENTS: list[type[Event]] = [
    ProviderRegistered,
    SchemeRegistered,
    SchemeCapacityChanged,
    UnitAllocated,
    UnitReleased,
    PlacementStarted,
    PlacementMoved,
    PlacementBrokeDown,
    PlacementEnded,
    BedAndBreakfastNightsRecorded,
    # issue 11 (placement)
    SchemeStayLimitsChanged,
    SchemeOfstedRegistrationRecorded,
    SchemeOfstedRegistrationEnded,
    FloatingSupportStarted,
    FloatingSupportEnded,
]


# -- upcasters: each lifts a stored payload one schema version ----------------------------------


def with_route_of_panel_allocation(payload: dict) -> dict:
    """PlacementStarted schema 1 -> 2: allocated_by_panel true was a panel placement, false an emergency one."""
    lifted = {key: value for key, value in payload.items() if key != "allocated_by_panel"}
    route = PlacementRoute.panel if payload.get("allocated_by_panel") else PlacementRoute.emergency
    return {**lifted, "schema_version": 2, "route": route.value}


def with_no_move_reason(payload: dict) -> dict:
    """PlacementMoved schema 1 -> 2: schema 1 recorded no reason for a move."""
    return {**payload, "schema_version": 2, "reason": None}


def visiting_support_is_accommodation_based(payload: dict) -> dict:
    """SchemeRegistered 1 -> 2: a visiting_floating_support scheme was Lancashire's accommodation-based visiting
    support (floating support, attached to the person, is its own provision type since schema 2)."""
    provision_type = payload.get("provision_type")
    if provision_type == ProvisionType.visiting_floating_support.value:
        provision_type = ProvisionType.visiting_support.value
    return {**payload, "schema_version": 2, "provision_type": provision_type}


def other_or_not_known_is_not_known(payload: dict) -> dict:
    """PlacementEnded and PlacementBrokeDown 1 -> 2: other_or_not_known becomes not_known. An old "other"
    cannot be told from "not known", so both count as not known (the data-quality measure may be high for
    departures recorded before the split)."""
    destination = payload.get("destination")
    if destination == Destination.other_or_not_known.value:
        destination = Destination.not_known.value
    return {**payload, "schema_version": 2, "destination": destination}


UPCASTERS = {
    ("PlacementStarted", 1): with_route_of_panel_allocation,
    ("PlacementMoved", 1): with_no_move_reason,
    ("SchemeRegistered", 1): visiting_support_is_accommodation_based,
    ("PlacementEnded", 1): other_or_not_known_is_not_known,
    ("PlacementBrokeDown", 1): other_or_not_known_is_not_known,
}
"""(event_type, schema_version) -> the function lifting a stored payload one version (see shared.contracts)."""
