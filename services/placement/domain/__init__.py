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
    DestinationCannotBePlanned,
    KnownCase,
    LeavingBeforeCountedNights,
    MoveDatedBeforeTheStay,
    MoveIntoSchemeStillHeld,
    MoveToTheSameScheme,
    NightsAlreadyRecorded,
    NightsOutsideTheBedAndBreakfastStay,
    NoPanelAllocation,
    NotABedAndBreakfastPlacement,
    OverlapMustBePlanned,
    OverlapMustEndAfterTheMove,
    OverlapTooLong,
    Placement,
    PlacementAlreadyEnded,
    PlacementBeforeReferral,
    PlacementEndsBeforeItStarted,
    PlacementNotFound,
    PlacementsWouldOverlap,
    Stay,
    UnknownCase,
    YoungPersonAlreadyPlaced,
    YoungPersonNotPlaced,
    placement_id_for,
)
from .provider import Provider, ProviderNotFound, UnknownProvider
from .scheme import (
    EMERGENCY_MAX_STAY_DAYS,
    EMERGENCY_TARGET_STAY_DAYS,
    CapacityBelowOccupancy,
    CapacityChangeBeforeTheLastOne,
    CapacityChangeBeforeTheSchemeOpened,
    EmergencyStayLimitTooLong,
    Letting,
    NightOccupancy,
    NoUnitLetToThePlacement,
    Occupancy,
    PlacementWouldExceedCapacity,
    Scheme,
    SchemeNotFound,
    SchemeNotOpen,
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
    "EMERGENCY_MAX_STAY_DAYS", "EMERGENCY_TARGET_STAY_DAYS", "LONGEST_OVERLAP_DAYS",
    "CapacityBelowOccupancy", "CapacityChangeBeforeTheLastOne", "CapacityChangeBeforeTheSchemeOpened",
    "CaseIsClosed", "CaseNotFound", "DestinationCannotBePlanned", "EmergencyStayLimitTooLong",
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
]
__all__ += [
    "DestinationNoLongerRecorded", "DestinationOnlyForFloatingSupport", "FloatingSupportAlreadyEnded",
    "FloatingSupportBeforeReferral", "FloatingSupportEndsBeforeItStarted", "FloatingSupportEpisode",
    "FloatingSupportEpisodesWouldOverlap", "FloatingSupportNeedsAnOpenCase", "FloatingSupportNotFound",
    "FloatingSupportSchemeTakesNoPlacements", "NoFloatingSupportNow", "NoSupportPlaceFree",
    "NotAFloatingSupportScheme", "ProvisionTypeNoLongerRecorded", "YoungPersonAlreadyHasFloatingSupport",
    "check_new_destination", "check_new_provision_type", "check_takes_placements", "floating_support_episode_id_for",
]
