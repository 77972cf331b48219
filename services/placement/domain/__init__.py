"""The placement service's domain: providers, schemes with their units, and young people's placements.

Pure: imports only the aggregate base, the event contracts and the error kinds in `shared/`. One module per
aggregate (`provider`, `scheme`, `placement`, `floating_support`), each with its value objects and, at the
bottom, its errors; `errors` holds the kinds of placement error and those the aggregates share; `vocabulary`
which words a new record may use.
"""

from .base import KindOfAggregate, check_dated, check_district, night_of
from .errors import EventDatedInTheFuture, PlacementConflict, PlacementRefused, UnknownDistrict
from .floating_support import (
    FloatingSupportAlreadyEnded,
    FloatingSupportBeforeReferral,
    FloatingSupportEndsBeforeItStarted,
    FloatingSupportEpisode,
    FloatingSupportEpisodesWouldOverlap,
    FloatingSupportNeedsAnOpenCase,
    FloatingSupportNotFound,
    FloatingSupportSchemeTakesNoPlacements,
    NoFloatingSupportNow,
    NoSupportPlaceFree,
    NotAFloatingSupportScheme,
    YoungPersonAlreadyHasFloatingSupport,
    check_takes_placements,
    floating_support_episode_id_for,
)
from .placement import (
    LONGEST_OVERLAP_DAYS,
    CaseIsClosed,
    CaseNotFound,
    DatedStatus,
    DestinationCannotBePlanned,
    EmergencyPlacementOutsideAssessment,
    KnownCase,
    LeavingBeforeCountedNights,
    MoveDatedBeforeTheStay,
    MoveInTheWrongDirection,
    MoveIntoSchemeStillHeld,
    MoveToTheSameScheme,
    NightsAlreadyRecorded,
    NightsOutsideTheBedAndBreakfastStay,
    NoPanelAllocation,
    NotABedAndBreakfastPlacement,
    OverlapMustBePlanned,
    OverlapMustEndAfterTheMove,
    OverlapTooLong,
    PathwayPlanOnlyForCareLeavers,
    Placement,
    PlacementAlreadyEnded,
    PlacementBeforeReferral,
    PlacementEndsBeforeItStarted,
    PlacementNotFound,
    PlacementRules,
    PlacementsWouldOverlap,
    PlannedMoveHasNoReason,
    Stay,
    SupportedAccommodationRule,
    UnknownCase,
    UnplannedMoveNeedsAReason,
    UnregisteredSupportedAccommodation,
    YoungPersonAlreadyPlaced,
    YoungPersonNotPlaced,
    placement_id_for,
)
from .provider import Provider, ProviderNotFound, UnknownProvider
from .scheme import (
    CapacityBelowOccupancy,
    CapacityChangeBeforeTheLastOne,
    CapacityChangeBeforeTheSchemeOpened,
    Letting,
    NightOccupancy,
    NoSuchOfstedRegistration,
    NoUnitLetToThePlacement,
    Occupancy,
    OfstedRegistration,
    OfstedRegistrationAlreadyEnded,
    OfstedRegistrationEndsBeforeItStarts,
    OfstedRegistrationsWouldOverlap,
    PlacementWouldExceedCapacity,
    Scheme,
    SchemeNotFound,
    SchemeNotOpen,
    StayLimits,
    StayLimitsChangeBeforeTheLastOne,
    StayLimitsChangeBeforeTheSchemeOpened,
    TargetStayLongerThanMaximum,
    UnknownScheme,
)
from .vocabulary import (
    DestinationNoLongerRecorded,
    DestinationOnlyForFloatingSupport,
    ProvisionTypeNoLongerRecorded,
    check_new_destination,
    check_new_provision_type,
)

__all__ = [
    "LONGEST_OVERLAP_DAYS",
    "CapacityBelowOccupancy", "CapacityChangeBeforeTheLastOne", "CapacityChangeBeforeTheSchemeOpened",
    "CaseIsClosed", "CaseNotFound", "DestinationCannotBePlanned",
    "EventDatedInTheFuture", "KindOfAggregate", "KnownCase", "LeavingBeforeCountedNights", "Letting",
    "MoveDatedBeforeTheStay", "MoveIntoSchemeStillHeld", "MoveToTheSameScheme", "NightOccupancy",
    "NightsAlreadyRecorded", "NightsOutsideTheBedAndBreakfastStay", "NoPanelAllocation",
    "NoUnitLetToThePlacement", "NotABedAndBreakfastPlacement", "Occupancy", "OverlapMustBePlanned",
    "OverlapMustEndAfterTheMove", "OverlapTooLong", "Placement", "PlacementAlreadyEnded",
    "PlacementBeforeReferral", "PlacementConflict", "PlacementEndsBeforeItStarted", "PlacementNotFound",
    "PlacementRefused", "PlacementWouldExceedCapacity", "PlacementsWouldOverlap", "Provider",
    "ProviderNotFound", "Scheme", "SchemeNotFound", "SchemeNotOpen", "Stay", "TargetStayLongerThanMaximum",
    "UnknownCase", "UnknownDistrict", "UnknownProvider", "UnknownScheme", "YoungPersonAlreadyPlaced",
    "YoungPersonNotPlaced", "check_dated", "check_district", "night_of", "placement_id_for",
    # issue 11 (placement)
    "DatedStatus", "EmergencyPlacementOutsideAssessment", "MoveInTheWrongDirection", "NoSuchOfstedRegistration",
    "OfstedRegistration", "OfstedRegistrationAlreadyEnded", "OfstedRegistrationEndsBeforeItStarts",
    "OfstedRegistrationsWouldOverlap", "PathwayPlanOnlyForCareLeavers", "PlacementRules", "PlannedMoveHasNoReason",
    "StayLimits", "StayLimitsChangeBeforeTheLastOne", "StayLimitsChangeBeforeTheSchemeOpened",
    "SupportedAccommodationRule", "UnplannedMoveNeedsAReason", "UnregisteredSupportedAccommodation",
]
__all__ += [
    "DestinationNoLongerRecorded", "DestinationOnlyForFloatingSupport", "FloatingSupportAlreadyEnded",
    "FloatingSupportBeforeReferral", "FloatingSupportEndsBeforeItStarted", "FloatingSupportEpisode",
    "FloatingSupportEpisodesWouldOverlap", "FloatingSupportNeedsAnOpenCase", "FloatingSupportNotFound",
    "FloatingSupportSchemeTakesNoPlacements", "NoFloatingSupportNow", "NoSupportPlaceFree",
    "NotAFloatingSupportScheme", "ProvisionTypeNoLongerRecorded", "YoungPersonAlreadyHasFloatingSupport",
    "check_new_destination", "check_new_provision_type", "check_takes_placements", "floating_support_episode_id_for",
]
