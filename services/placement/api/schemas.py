"""What the placement routes take and give: request bodies (validated before any rule runs) and responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Day, Moment
from shared.contracts.placement import OFSTED_REGISTRATION_NUMBER
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Cohort, LegalStatus, Level, PanelDecision, PriorityBand


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the catalogue --------------------------------------------------------------------------------


class NewProvider(Body):
    """An organisation providing accommodation or support."""

    name: str = Field(min_length=1, max_length=200, description="The organisation's name (never a person's)")
    district: str = Field(description="The district the provider is registered in")
    occurred_at: Moment | None = Field(default=None, description="When it was registered; default now")


class ProviderWritten(BaseModel):
    provider_id: UUID
    position: str = Field(description="Pass as ?after= to a read of the catalogue to see this write")


class NewScheme(Body):
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
        default=None, ge=1, le=3650,
        description="Longest a stay may last (the scheme's or its contract's own, e.g. Derby's 91 days for an "
                    "emergency bed); none: no limit. Each stay is flagged against it")
    target_stay_days: int | None = Field(
        default=None, ge=1, le=3650,
        description="The average stay aimed for (e.g. Derby's 42 days); reported as an average, never applied to "
                    "one stay; none: no target")
    occurred_at: Moment | None = Field(default=None, description="When it was registered; default now")


class SchemeWritten(BaseModel):
    scheme_id: UUID
    position: str


class CapacityChange(Body):
    """The scheme's capacity from a day on."""

    units: int = Field(ge=0, le=10_000)
    effective_from: Day
    occurred_at: Moment | None = Field(default=None, description="When it was decided; default now")


class Changed(BaseModel):
    id: UUID
    position: str


class StayLimitsChange(Body):
    """The scheme's maximum and target stays from a night on (e.g. a new contract's terms)."""

    max_stay_days: int | None = Field(ge=1, le=3650, description="Longest a stay may last; null: no limit")
    target_stay_days: int | None = Field(ge=1, le=3650, description="The average stay aimed for; null: no target")
    effective_from: Day = Field(description="The first night they apply to: a stay is held to the limits in force "
                                            "on the night it began")
    occurred_at: Moment | None = Field(default=None, description="When it was decided; default now")


class OfstedRegistrationRecord(Body):
    """The scheme's registration with Ofsted as supported accommodation."""

    registration_number: str = Field(pattern=OFSTED_REGISTRATION_NUMBER, description="Ofsted's URN")
    registered_from: Day
    registered_until: Day | None = Field(default=None, description="The first day it is no longer registered, "
                                                                   "if known")
    occurred_at: Moment | None = Field(default=None, description="When it was recorded; default now")


class OfstedRegistrationEnding(Body):
    """The scheme's Ofsted registration ending (cancelled, suspended, resigned)."""

    ended_on: Day = Field(description="The first day the scheme is no longer registered")
    occurred_at: Moment | None = Field(default=None, description="When it was recorded; default now")


class StayLimitsView(BaseModel):
    effective_from: date
    max_stay_days: int | None
    target_stay_days: int | None


class OfstedRegistrationView(BaseModel):
    registration_number: str
    registered_from: date
    registered_until: date | None


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
    max_stay_days: int | None = Field(description="The maximum stay for a stay beginning tonight")
    target_stay_days: int | None = Field(description="The target (average) stay for stays beginning tonight")
    stay_limits: list[StayLimitsView] = Field(description="The scheme's stay limits over time")
    ofsted_registrations: list[OfstedRegistrationView]
    registered_with_ofsted_tonight: bool
    capacity: int = Field(description="Units tonight")
    let: int = Field(description="Units let tonight")
    vacant: int = Field(description="Units empty tonight (voids)")
    free_from_tonight: int = Field(description="Units a placement starting tonight can take: free tonight and on "
                                               "every later night (a capacity cut or a later letting counts)")


class NightView(BaseModel):
    night: date
    capacity: int
    let: int
    void: int


class OccupancyView(BaseModel):
    """A scheme's units night by night: capacity, units let and voids, and utilisation over the range."""

    scheme_id: UUID
    first_night: date
    last_night: date
    unit_nights: int = Field(description="Sum of capacity over the nights")
    let_unit_nights: int
    void_unit_nights: int
    utilisation_percent: float | None = Field(description="Let unit-nights as % of unit-nights; none if no capacity")
    nights: list[NightView]


class Vacancies(BaseModel):
    """Schemes with units empty tonight."""

    as_of: date
    district: str | None
    schemes: list[SchemeView]


# -- placements -----------------------------------------------------------------------------------


class PlacementChange(Body):
    occurred_at: Moment = Field(description="When it happened")


class NewPlacement(PlacementChange):
    """A young person moving into a scheme by a route. Their case must be open; if the case's district needs a
    panel decision for that route (the district register, on the placement's day), its latest panel decision must
    have allocated a service first. An emergency placement goes into an assessment / emergency scheme; a pathway
    plan placement is a care leaver's; a looked-after or care-leaving 16/17 year old goes into supported
    accommodation only if it is registered with Ofsted."""

    case_id: UUID
    scheme_id: UUID
    route: PlacementRoute = Field(description="Who made the placement: panel, placement_team, pathway_plan, "
                                              "emergency (between panels) or children_services")


class PlacementWritten(BaseModel):
    placement_id: UUID
    case_id: UUID
    person_ref: UUID
    position: str = Field(description="Pass as ?after= to a journeys read to see this write")


class Move(PlacementChange):
    """The young person moving to another scheme within the pathway."""

    to_scheme_id: UUID
    direction: MoveDirection = Field(description="Checked: a step up goes to a higher support level (or the same "
                                                 "with more hours a week), a step down to less, lateral the same level")
    planned: bool
    reason: MoveReason | None = Field(default=None, description="Why an unplanned move happened (required then); "
                                                                "none for a planned move")
    overlap_until: Day | None = Field(
        default=None, description="A planned overlap: keep the unit left behind until this day (planned moves only)")


class MoveOn(PlacementChange):
    """The young person moving on: planned or not, to a destination."""

    planned: bool
    destination: Destination


class Breakdown(PlacementChange):
    """The placement breaking down."""

    reason: BreakdownReason
    destination: Destination | None = Field(
        default=None, description="Where the young person went, if known (abandonment: abandoned; custody: custody; "
                                  "hospital: hospital_or_care_home; otherwise not_known)")


class BedAndBreakfastNights(Body):
    """Nights the young person spent in bed and breakfast."""

    first_night: Day
    nights: int = Field(ge=1, le=366)


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
    route: PlacementRoute
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
    max_stay_days: int = Field(description="The scheme's maximum stay in force on the night the stay began")
    target_stay_days: int | None = Field(description="Its target then: an average, for reference only")
    limits_from: date = Field(description="When those limits took effect")
    days_over: int = Field(description="Days beyond the maximum")


class StaysOverLimit(BaseModel):
    """Open stays longer than their scheme's maximum stay, longest over first."""

    as_of: date
    limit: Literal["maximum"]
    district: str | None
    stays: list[StayOverLimit]


class AverageStay(BaseModel):
    """A scheme's stays that began while one set of its stay limits was in force, against its target."""

    scheme_id: UUID
    scheme_name: str
    scheme_district: str
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    limits_from: date
    limits_until: date | None = Field(description="When the next limits took effect; none: still in force")
    max_stay_days: int | None
    target_stay_days: int | None
    completed_stays: int
    average_completed_days: float | None
    ongoing_stays: int
    average_ongoing_days: float | None = Field(description="Days so far, to today")
    stays: int
    average_days: float | None = Field(description="Completed and ongoing stays together (ongoing to today)")
    average_over_target: bool | None = Field(
        description="The average of completed stays is longer than the target (none: no target or no completed stay)")


class AverageStays(BaseModel):
    """Each scheme's average stay against its target: a target is an average, reported here, never applied to
    one stay."""

    as_of: date
    district: str | None
    schemes: list[AverageStay]


# -- cases ----------------------------------------------------------------------------------------


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


class KnownCaseView(BaseModel):
    """What the placement service knows of a case, from the referral service's events."""

    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    status: Literal["open", "closed"]
    last_panel_decision: PanelDecision | None
    allocated: bool
    legal_status: LegalStatus | None = Field(description="The young person's legal status now")
    under_18: bool = Field(description="Under 18 at the last age the referral service published")


# -- floating support -----------------------------------------------------------------------------


class NewFloatingSupport(Body):
    """Floating support starting for a young person: a place in a floating support scheme, alongside a placement
    or in their own home. Their case must be open; no panel decision is needed."""

    case_id: UUID
    scheme_id: UUID = Field(description="A scheme whose provision type is floating_support")
    occurred_at: Moment = Field(description="When the support started")


class FloatingSupportWritten(BaseModel):
    episode_id: UUID
    case_id: UUID
    person_ref: UUID
    position: str = Field(description="Pass as ?after= to a read to see this write")


class FloatingSupportEnding(Body):
    """The floating support ending: planned or not, with where the young person then lived."""

    planned: bool
    destination: Destination = Field(description="e.g. remained_in_own_home; not_known if nobody knows")
    hours_delivered: float | None = Field(default=None, ge=0, le=100_000,
                                          description="Hours of support given over the episode, if counted")
    occurred_at: Moment = Field(description="When it ended")


class FloatingSupportEndingView(BaseModel):
    planned: bool
    destination: Destination
    hours_delivered: float | None


class FloatingSupportView(BaseModel):
    """A floating support episode as its own events tell it (never behind a write)."""

    episode_id: UUID
    episode_number: int
    case_id: UUID
    person_ref: UUID = Field(description="The young person's pseudonym")
    district: str
    cohort: Cohort
    status: Literal["open", "ended"]
    scheme_id: UUID
    provider_id: UUID
    started_at: datetime
    in_placement_id: UUID | None = Field(description="The placement the young person was in when it started")
    days_supported: int = Field(description="Whole days from the night it started to today, or to its end")
    ended_at: datetime | None
    ending: FloatingSupportEndingView | None
    version: int


class OpenEpisode(BaseModel):
    episode_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str = Field(description="The case's district")
    started_at: datetime
    days_supported: int
    in_placement_id: UUID | None


class SchemeSupporting(BaseModel):
    scheme_id: UUID
    scheme_name: str | None
    scheme_district: str
    capacity_units: int | None = Field(description="Support places (from the catalogue read model)")
    episodes: list[OpenEpisode]


class OpenFloatingSupport(BaseModel):
    """Open floating support episodes, by scheme."""

    as_of: date
    district: str | None
    schemes: list[SchemeSupporting]


class SchemeDestinationsNotKnown(BaseModel):
    scheme_id: UUID
    scheme_name: str | None
    scheme_district: str | None
    provision_type: ProvisionType | None
    departures: int
    destination_not_known: int
    percent_not_known: float


class DestinationsNotKnown(BaseModel):
    """Departures (moves, move-ons, breakdowns, ends of floating support) whose destination is not known: a
    data-quality measure, per scheme, and pooled (never an average of percentages)."""

    district: str | None
    first_day: date | None
    last_day: date | None
    departures: int
    destination_not_known: int
    percent_not_known: float | None
    schemes: list[SchemeDestinationsNotKnown]
