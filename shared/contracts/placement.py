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
    PathwayStage,
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
    placement_id: UUID
    placement_number: int = Field(ge=1, description="The young person's 1st, 2nd, ... placement")
    cohort: Cohort
    allocated_by_panel: bool = Field(
        description="The case's latest panel decision allocated a service; false for an emergency placement "
                    "made between panels, which is reported to the next panel")


class PlacementMoved(SchemeFacts):
    """The young person moved to another scheme within the pathway (the scheme facts are the new scheme's)."""

    event_type: Literal["PlacementMoved"] = "PlacementMoved"
    placement_id: UUID
    from_scheme_id: UUID
    direction: MoveDirection
    planned: bool
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
    FloatingSupportStarted,
    FloatingSupportEnded,
]


# -- upcasters: each lifts a stored payload one schema version ----------------------------------


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
    ("SchemeRegistered", 1): visiting_support_is_accommodation_based,
    ("PlacementEnded", 1): other_or_not_known_is_not_known,
    ("PlacementBrokeDown", 1): other_or_not_known_is_not_known,
}
"""(event_type, schema_version) -> the function lifting a stored payload one version (see shared.contracts)."""
