"""Placements: a young person's stays along the pathway, from the scheme they start in, through any moves,
to the end (a move-on or a breakdown).

Each move, end or breakdown lets and releases units on the schemes' own aggregates in the same save, so
no scheme is ever let beyond its capacity.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import singledispatchmethod
from typing import Literal
from uuid import UUID

from shared.contracts import Event
from shared.contracts.placement import (
    BedAndBreakfastNightsRecorded,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
)
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Cohort, LegalStatus, Level
from shared.errors import NotFound

from .base import KindOfAggregate, check_dated, night_of
from .errors import EventDatedInTheFuture, PlacementConflict, PlacementRefused
from .scheme import Scheme

LONGEST_OVERLAP_DAYS = 28
"""A planned move keeps the unit left behind for at most four weeks."""


def placement_id_for(person_ref: UUID, number: int, key: bytes) -> UUID:
    """The id of a young person's `number`th placement: a keyed hash (HMAC-SHA256) of "<person_ref>/<number>".

    Two placements started at once for the same young person get the same id, so the store refuses one of
    them: a young person's placements never overlap. Without the key nobody can tell whose placement an id
    is, even knowing the person_ref."""
    digest = hmac.new(key, f"{person_ref}/{number}".encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=4)


@dataclass(frozen=True)
class DatedStatus:
    """The young person's legal status and cohort from a moment on (a referral, re-referral, change or turning 18)."""

    since: datetime
    legal_status: LegalStatus
    cohort: Cohort


@dataclass(frozen=True)
class KnownCase:
    """What the placement service knows of a young person's case, from the referral service's events."""

    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    open: bool
    allocated: bool
    """The case's latest panel decision allocated a service."""
    referred_at: datetime | None = None
    """When the young person was referred: nothing is placed before it."""
    allocated_at: datetime | None = None
    """When the panel decision allocating a service was made: no non-emergency placement before it."""
    reopened_at: datetime | None = None
    """When the case was last reopened: nothing is placed in the closed time before it."""
    person_refs: tuple[UUID, ...] = ()
    """Every person_ref the case has carried (links change it); the current one is `person_ref`."""
    legal_status: LegalStatus | None = None
    """The young person's legal status now (the latest fact the referral service published)."""
    under_18: bool = False
    """Under 18 at the last age fact published (an age at an event; AgeReached(18) makes them 18 or over)."""
    adult_from: datetime | None = None
    """When they were first known to be 18 or over: the day `AgeReached` (18) is dated (the first of the month
    after the birthday), or the first event giving 18+."""
    statuses: tuple[DatedStatus, ...] = ()
    """Their legal status and cohort over time, in the order they took effect."""

    def legal_status_on(self, moment: datetime) -> LegalStatus | None:
        """The legal status in force at `moment` (none if the referral service never said)."""
        return self._status_on(moment).legal_status if self.statuses else self.legal_status

    def cohort_on(self, moment: datetime) -> Cohort:
        return self._status_on(moment).cohort if self.statuses else self.cohort

    def _status_on(self, moment: datetime) -> DatedStatus:
        in_force = [status for status in self.statuses if status.since <= moment]
        return in_force[-1] if in_force else self.statuses[0]

    def under_18_on(self, moment: datetime) -> bool:
        if self.adult_from is not None:
            return moment < self.adult_from
        return self.under_18

    def looked_after_or_care_leaving_16_17_on(self, moment: datetime) -> bool:
        """Looked after, or an eligible or relevant care leaver, and under 18 at `moment`: a young person
        supported accommodation must be registered with Ofsted for."""
        status = self.legal_status_on(moment)
        return status is not None and (status.looked_after or status.care_leaving) and self.under_18_on(moment)


@dataclass(frozen=True)
class SupportedAccommodationRule:
    """The national rule: since a day, supported accommodation for looked-after children and care leavers aged
    16 or 17 must be registered with Ofsted. Which provision types count, and from when, are configuration
    (services/placement/national_rules.toml), dated: each entry replaces the one before from its day."""

    dated: tuple[tuple[date, frozenset[ProvisionType]], ...] = ()
    """(in force from, the provision types that count as supported accommodation), in day order."""

    def supported_accommodation_on(self, night: date) -> frozenset[ProvisionType]:
        in_force = [types for since, types in self.dated if since <= night]
        return in_force[-1] if in_force else frozenset()

    def check(self, *, case: KnownCase, scheme: Scheme, at: datetime, what: str) -> None:
        """Refuse placing (or moving) the case's young person in `scheme` at `at` if the rule forbids it."""
        night = night_of(at)
        if scheme.provision_type not in self.supported_accommodation_on(night):
            return
        if not case.looked_after_or_care_leaving_16_17_on(at) or scheme.registration_on(night) is not None:
            return
        raise UnregisteredSupportedAccommodation(
            f"{what} on {night.isoformat()} would put a looked-after or care-leaving 16/17 year old in scheme "
            f"{scheme.id} ({scheme.provision_type.value}), which is not registered with Ofsted on that day")


@dataclass(frozen=True)
class PlacementRules:
    """The rules a new placement is decided under: the case's district's placement routes needing a prior panel
    decision on the placement's day (the district register), and the national registration rule."""

    routes_needing_panel: frozenset[PlacementRoute]
    supported_accommodation: SupportedAccommodationRule


@dataclass
class Stay:
    """The part of a placement spent in one scheme."""

    scheme_id: UUID
    provision_type: ProvisionType
    from_night: date
    until: date | None = None
    """The day the young person left the scheme (the first night not spent there)."""

    def includes(self, night: date) -> bool:
        return self.from_night <= night and (self.until is None or night < self.until)


class Placement(KindOfAggregate):
    """A young person's placement along the pathway, from the scheme they started in, through any moves,
    to its end (a move-on or a breakdown)."""

    created_by = PlacementStarted
    number: int
    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    route: PlacementRoute
    started_at: datetime
    scheme_id: UUID
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    stay_started_at: datetime
    ended_at: datetime | None = None
    ending: PlacementEnded | PlacementBrokeDown | None = None

    def __init__(self, id: UUID):
        super().__init__(id)
        self.stays: list[Stay] = []
        self.bed_and_breakfast_nights: set[date] = set()
        self.held_until: dict[UUID, date] = {}
        """Schemes left on a planned move whose unit is still held, and until when."""

    def schemes_held_after(self, night: date) -> list[UUID]:
        """The schemes whose unit this placement still holds after `night` (planned overlaps)."""
        return [scheme_id for scheme_id, until in self.held_until.items() if until > night]

    @property
    def open(self) -> bool:
        return self.ending is None

    @property
    def status(self) -> Literal["open", "ended", "broke_down"]:
        if self.ending is None:
            return "open"
        return "ended" if isinstance(self.ending, PlacementEnded) else "broke_down"

    def last_day(self, today: date) -> date:
        """The day the placement ended, or today while it is open: what its days are counted to."""
        return night_of(self.ended_at) if self.ended_at else today

    @classmethod
    def start(cls, *, case: KnownCase, number: int, placement_id: UUID, previous: Placement | None,
              scheme: Scheme, route: PlacementRoute, rules: PlacementRules,
              occurred_at: datetime, now: datetime) -> Placement:
        """Place the young person of `case` in `scheme` by `route`: their `number`th placement, after `previous`."""
        route = PlacementRoute(route)
        check_dated(occurred_at, now)
        if case.referred_at is not None and occurred_at < case.referred_at:
            raise PlacementBeforeReferral(
                f"the placement is dated {occurred_at.isoformat()}, before the referral on "
                f"{case.referred_at.isoformat()}")
        if not case.open:
            raise CaseIsClosed(f"case {case.case_id} is closed: a placement needs an open case")
        if case.reopened_at is not None and occurred_at < case.reopened_at:
            raise PlacementBeforeReferral(
                f"the placement is dated {occurred_at.isoformat()}, while the case was closed (it was reopened on "
                f"{case.reopened_at.isoformat()})")
        _check_route(case, scheme, route, rules.routes_needing_panel, occurred_at)
        rules.supported_accommodation.check(case=case, scheme=scheme, at=occurred_at, what="the placement")
        if previous is not None and previous.open:
            raise YoungPersonAlreadyPlaced(
                f"the young person is in placement {previous.id} (scheme {previous.scheme_id}): end it or move "
                f"them instead")
        if previous is not None and previous.ended_at and occurred_at < previous.ended_at:
            raise PlacementsWouldOverlap(
                f"the young person's previous placement {previous.id} ended on {previous.ended_at.isoformat()}, "
                f"after {occurred_at.isoformat()}")
        placement = cls(placement_id)
        scheme.allocate(placement.id, night_of(occurred_at), occurred_at)
        placement.record(PlacementStarted, case_id=case.case_id, person_ref=case.person_ref, district=case.district,
                         occurred_at=occurred_at, placement_id=placement.id, placement_number=number,
                         cohort=case.cohort_on(occurred_at), route=route, **_facts_of(scheme))
        return placement

    def _record_fact(self, event_class: type[Event], occurred_at: datetime, **facts) -> None:
        self.record(event_class, case_id=self.case_id, person_ref=self.person_ref, district=self.district,
                    occurred_at=occurred_at, placement_id=self.id, **facts)

    def _check_change(self, occurred_at: datetime, now: datetime, what: str,
                      too_early: type[PlacementRefused]) -> None:
        if not self.open:
            raise PlacementAlreadyEnded(f"placement {self.id} ended on {self.ended_at.isoformat()}")
        check_dated(occurred_at, now)
        if occurred_at < self.stay_started_at:
            raise too_early(f"{what} on {occurred_at.isoformat()} is before the young person's stay in scheme "
                            f"{self.scheme_id} started on {self.stay_started_at.isoformat()}")
        counted_after = sorted(n for n in self.bed_and_breakfast_nights if n >= night_of(occurred_at))
        if counted_after:
            raise LeavingBeforeCountedNights(
                f"{what} on {occurred_at.isoformat()} is before the night of {counted_after[-1].isoformat()}, "
                f"already counted as spent in bed and breakfast")

    def days_in_scheme(self, on: date) -> int:
        return (on - night_of(self.stay_started_at)).days

    def days_in_placement(self, on: date) -> int:
        return (on - night_of(self.started_at)).days

    def move(self, *, leaving: Scheme, to: Scheme, direction: MoveDirection, planned: bool,
             overlap_until: date | None, occurred_at: datetime, now: datetime, case: KnownCase,
             supported_accommodation: SupportedAccommodationRule, reason: MoveReason | None = None) -> None:
        """Move the young person from the scheme they are in (`leaving`) to another (`to`); an unplanned move
        says why (`reason`)."""
        self._check_change(occurred_at, now, "the move", MoveDatedBeforeTheStay)
        if to.id == self.scheme_id:
            raise MoveToTheSameScheme(f"the young person is already in scheme {to.id}")
        direction = MoveDirection(direction)
        _check_direction(leaving, to, direction)
        if not planned and reason is None:
            raise UnplannedMoveNeedsAReason("an unplanned move says why it happened", field="reason")
        if planned and reason is not None:
            raise PlannedMoveHasNoReason("a reason is recorded for an unplanned move only", field="reason")
        supported_accommodation.check(case=case, scheme=to, at=occurred_at, what="the move")
        moved_on = night_of(occurred_at)
        if overlap_until is not None and not planned:
            raise OverlapMustBePlanned("only a planned move can keep the unit left behind for an overlap")
        if overlap_until is not None and overlap_until <= moved_on:
            raise OverlapMustEndAfterTheMove(
                f"the overlap must end after the move on {moved_on.isoformat()}, not on {overlap_until.isoformat()}")
        if overlap_until is not None and overlap_until > moved_on + timedelta(days=LONGEST_OVERLAP_DAYS):
            raise OverlapTooLong(f"a planned overlap lasts at most {LONGEST_OVERLAP_DAYS} days after the move")
        if any(letting.placement_id == self.id and letting.occupies(moved_on) for letting in to.lettings):
            raise MoveIntoSchemeStillHeld(
                f"the young person still holds a unit in scheme {to.id} on {moved_on.isoformat()} (a planned "
                f"overlap): they cannot move back into it before the overlap ends")
        to.allocate(self.id, moved_on, occurred_at)
        leaving.release(self.id, overlap_until or moved_on, occurred_at)
        self._record_fact(PlacementMoved, occurred_at, from_scheme_id=self.scheme_id, direction=direction,
                          planned=planned, reason=reason, overlap_until=overlap_until,
                          days_in_previous_scheme=self.days_in_scheme(moved_on), **_facts_of(to))

    def end(self, *, scheme: Scheme, planned: bool, destination: Destination, occurred_at: datetime,
            now: datetime, holding: list[Scheme] = ()) -> None:
        """The young person moves on from the pathway placement."""
        self._check_change(occurred_at, now, "the end", PlacementEndsBeforeItStarted)
        destination = Destination(destination)
        if planned and not destination.can_be_planned:
            raise DestinationCannotBePlanned(f"a move-on to {destination.value} is never planned")
        left_on = night_of(occurred_at)
        scheme.release(self.id, left_on, occurred_at)
        for held in holding:  # a planned overlap still running ends with the placement
            held.cut_short(self.id, left_on, occurred_at)
        self._record_fact(PlacementEnded, occurred_at, scheme_id=self.scheme_id, planned=planned,
                          destination=destination, days_in_scheme=self.days_in_scheme(left_on),
                          days_in_placement=self.days_in_placement(left_on))

    def break_down(self, *, scheme: Scheme, reason: BreakdownReason, destination: Destination | None,
                   occurred_at: datetime, now: datetime, holding: list[Scheme] = ()) -> None:
        """The placement ends unplanned, for `reason`."""
        self._check_change(occurred_at, now, "the breakdown", PlacementEndsBeforeItStarted)
        reason = BreakdownReason(reason)
        left_on = night_of(occurred_at)
        scheme.release(self.id, left_on, occurred_at)
        for held in holding:  # a planned overlap still running ends with the placement
            held.cut_short(self.id, left_on, occurred_at)
        self._record_fact(PlacementBrokeDown, occurred_at, scheme_id=self.scheme_id, reason=reason,
                          destination=destination or reason.usual_destination,
                          days_in_scheme=self.days_in_scheme(left_on),
                          days_in_placement=self.days_in_placement(left_on))

    def record_bed_and_breakfast_nights(self, *, first_night: date, nights: int, now: datetime) -> None:
        """Count nights the young person spent in a bed and breakfast scheme of this placement."""
        bed_and_breakfast = [s for s in self.stays if s.provision_type is ProvisionType.bed_and_breakfast]
        if not bed_and_breakfast:
            raise NotABedAndBreakfastPlacement(
                f"placement {self.id} has not been in bed and breakfast: it is in {self.provision_type.value}")
        counted = [first_night + timedelta(days=n) for n in range(nights)]
        if counted[-1] > night_of(now):
            raise EventDatedInTheFuture(f"the night of {counted[-1].isoformat()} has not come yet")
        outside = [night for night in counted if not any(stay.includes(night) for stay in bed_and_breakfast)]
        if outside:
            raise NightsOutsideTheBedAndBreakfastStay(
                f"the young person was not in bed and breakfast on the night of {outside[0].isoformat()}"
                + (f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""))
        again = sorted(self.bed_and_breakfast_nights.intersection(counted))
        if again:
            raise NightsAlreadyRecorded(f"the night of {again[0].isoformat()} is already counted"
                                        + (f" (and {len(again) - 1} more)" if len(again) > 1 else ""))
        scheme_id = next(s.scheme_id for s in bed_and_breakfast if s.includes(first_night))
        self._record_fact(BedAndBreakfastNightsRecorded, _moment_of(first_night, self.started_at, now),
                          scheme_id=scheme_id, first_night=first_night, nights=nights, cohort=self.cohort)

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type}")

    @apply.register
    def _(self, event: PlacementStarted) -> None:
        self.number = event.placement_number
        self.case_id = event.case_id
        self.person_ref = event.person_ref
        self.district = event.district
        self.cohort = event.cohort
        self.route = event.route
        self.started_at = event.occurred_at
        self._enter(event, event.occurred_at)

    def _enter(self, event: PlacementStarted | PlacementMoved, at: datetime) -> None:
        self.scheme_id = event.scheme_id
        self.provision_type = event.provision_type
        self.pathway_stage = event.pathway_stage
        self.support_level = event.support_level
        self.stay_started_at = at
        self.stays.append(Stay(event.scheme_id, event.provision_type, night_of(at)))

    @apply.register
    def _(self, event: PlacementMoved) -> None:
        self.stays[-1].until = night_of(event.occurred_at)
        if event.overlap_until is not None:
            self.held_until[event.from_scheme_id] = event.overlap_until
        self._enter(event, event.occurred_at)

    @apply.register
    def _(self, event: PlacementEnded) -> None:
        self._leave(event)

    @apply.register
    def _(self, event: PlacementBrokeDown) -> None:
        self._leave(event)

    def _leave(self, event: PlacementEnded | PlacementBrokeDown) -> None:
        self.stays[-1].until = night_of(event.occurred_at)
        self.ended_at = event.occurred_at
        self.ending = event

    @apply.register
    def _(self, event: BedAndBreakfastNightsRecorded) -> None:
        self.bed_and_breakfast_nights.update(event.first_night + timedelta(days=n) for n in range(event.nights))


def _facts_of(scheme: Scheme) -> dict:
    return {"scheme_id": scheme.id, "provider_id": scheme.provider_id, "provision_type": scheme.provision_type,
            "pathway_stage": scheme.pathway_stage, "support_level": scheme.support_level,
            "scheme_district": scheme.district}


def _check_route(case: KnownCase, scheme: Scheme, route: PlacementRoute,
                 routes_needing_panel: frozenset[PlacementRoute], occurred_at: datetime) -> None:
    """The route's own rules, and the district's: whether it needs the panel to have allocated a service first."""
    if route is PlacementRoute.emergency and scheme.pathway_stage is not PathwayStage.assessment:
        raise EmergencyPlacementOutsideAssessment(
            f"an emergency placement is made into an assessment / emergency scheme, not a "
            f"{scheme.pathway_stage.value} one", field="route")
    if route is PlacementRoute.pathway_plan:
        status = case.legal_status_on(occurred_at)
        if not (status is not None and status.care_leaving):
            raise PathwayPlanOnlyForCareLeavers(
                f"a placement under a pathway plan is a care leaver's; the young person's legal status on "
                f"{night_of(occurred_at).isoformat()} is {status.value if status else 'not known'}")
    if route not in routes_needing_panel:
        return
    if not case.allocated:
        raise NoPanelAllocation(
            f"in district {case.district}, a placement by {route.value} needs a panel decision allocating a service "
            f"first, and case {case.case_id} has none")
    if case.allocated_at is not None and occurred_at < case.allocated_at:
        raise NoPanelAllocation(
            f"the placement is dated {occurred_at.isoformat()}, before the panel allocated a service on "
            f"{case.allocated_at.isoformat()}: in district {case.district} a placement by {route.value} needs it first")


SUPPORT_ORDER = {Level.low: 0, Level.medium: 1, Level.high: 2}


def _check_direction(leaving: Scheme, to: Scheme, direction: MoveDirection) -> None:
    """A step up goes to more support (a higher level, or the same level with more hours a week), a step down
    to less, a lateral move to the same level."""
    level = SUPPORT_ORDER[to.support_level] - SUPPORT_ORDER[leaving.support_level]
    hours = to.support_hours_per_week - leaving.support_hours_per_week
    right = {
        MoveDirection.step_up: level > 0 or (level == 0 and hours > 0),
        MoveDirection.step_down: level < 0 or (level == 0 and hours < 0),
        MoveDirection.lateral: level == 0,
    }[direction]
    if not right:
        raise MoveInTheWrongDirection(
            f"a {direction.value} move cannot go from {leaving.support_level.value} support "
            f"({leaving.support_hours_per_week:g} hours a week) to {to.support_level.value} support "
            f"({to.support_hours_per_week:g} hours a week)", field="direction")


def _moment_of(night: date, started_at: datetime, now: datetime) -> datetime:
    """When B&B nights are dated: the evening of their first night, but never before the placement
    started nor after now."""
    return max(min(datetime(night.year, night.month, night.day, 18, tzinfo=UTC), now), started_at)


class PlacementBeforeReferral(PlacementRefused):
    """No young person is placed before their referral."""


class LeavingBeforeCountedNights(PlacementRefused):
    """A placement cannot end or move before nights already counted as spent in it."""


class OverlapTooLong(PlacementRefused):
    """A planned overlap keeps the unit left behind for at most LONGEST_OVERLAP_DAYS."""


class MoveIntoSchemeStillHeld(PlacementRefused):
    """A young person cannot move back into a scheme whose unit they still hold on an overlap."""


class PlacementEndsBeforeItStarted(PlacementRefused):
    """A move, an end or a breakdown cannot be dated before the stay it ends began."""


class MoveDatedBeforeTheStay(PlacementRefused):
    """A move cannot be dated before the young person's stay in the scheme they leave began."""


class MoveToTheSameScheme(PlacementRefused):
    """A move goes to another scheme."""


class OverlapMustBePlanned(PlacementRefused):
    """Only a planned move may keep the unit left behind for an overlap."""


class OverlapMustEndAfterTheMove(PlacementRefused):
    """A planned overlap ends after the day of the move."""


class DestinationCannotBePlanned(PlacementRefused):
    """Nobody plans a move-on to sleeping rough, to an abandoned placement, or to death."""


class NightsOutsideTheBedAndBreakfastStay(PlacementRefused):
    """B&B nights are counted only for nights the young person spent in a B&B scheme of the placement."""


class UnknownCase(PlacementRefused):
    """The placement service has not heard of that case from the referral service."""


class CaseIsClosed(PlacementConflict):
    """A placement needs an open case."""


class NoPanelAllocation(PlacementConflict):
    """In the case's district, on the placement's day, a placement by this route needs a panel decision allocating
    a service first (the district register's rule)."""


class EmergencyPlacementOutsideAssessment(PlacementRefused):
    """An emergency placement is made into an assessment / emergency scheme."""


class PathwayPlanOnlyForCareLeavers(PlacementConflict):
    """A placement under a pathway plan is a care leaver's (eligible, relevant, former relevant or qualifying)."""


class UnregisteredSupportedAccommodation(PlacementConflict):
    """Since 28 October 2023, a looked-after or care-leaving 16/17 year old is placed in supported accommodation
    only if it is registered with Ofsted (the Supported Accommodation (England) Regulations 2023)."""


class MoveInTheWrongDirection(PlacementRefused):
    """A step up goes to more support (a higher level, or the same level with more hours), a step down to less, a
    lateral move to the same level."""


class UnplannedMoveNeedsAReason(PlacementRefused):
    """An unplanned move records why it happened."""


class PlannedMoveHasNoReason(PlacementRefused):
    """A reason is recorded for an unplanned move only."""


class YoungPersonAlreadyPlaced(PlacementConflict):
    """A young person has one placement at a time: move them, or end the one they are in."""


class PlacementsWouldOverlap(PlacementConflict):
    """A new placement cannot start before the young person's previous placement ended."""


class PlacementAlreadyEnded(PlacementConflict):
    """An ended placement takes no moves, ends or breakdowns."""


class NotABedAndBreakfastPlacement(PlacementConflict):
    """B&B nights are recorded only on a placement that has been in a bed and breakfast scheme."""


class NightsAlreadyRecorded(PlacementConflict):
    """Each B&B night is counted once."""


class PlacementNotFound(NotFound):
    """No placement has that id."""


class YoungPersonNotPlaced(NotFound):
    """The young person is in no placement now."""


class CaseNotFound(NotFound):
    """The placement service has not heard of that case (yet)."""
