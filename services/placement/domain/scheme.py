"""Schemes: a provider's accommodation or support, its capacity over time, and the units it has let.

A unit let from night N and released on day M is occupied on the nights N..M-1. No unit is let on a night
when every unit is let, nor from a night after which some later night is full (a capacity cut or a letting
already booked counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid4

from shared.contracts import Event
from shared.contracts.placement import SchemeCapacityChanged, SchemeRegistered, UnitAllocated, UnitReleased
from shared.contracts.placement_vocabulary import PathwayStage, ProvisionType
from shared.contracts.vocabulary import Level
from shared.errors import NotFound

from .base import KindOfAggregate, check_dated, check_district
from .errors import PlacementConflict, PlacementRefused
from .provider import Provider

EMERGENCY_MAX_STAY_DAYS = 91
"""An assessment / emergency stay lasts 3 months (13 weeks) at most [003 4.4]."""
EMERGENCY_TARGET_STAY_DAYS = 42
"""... and 6 weeks on average is desirable [003 4.4]."""


@dataclass
class Letting:
    """A unit of a scheme let to a placement from a night, until it is released."""

    placement_id: UUID
    from_night: date
    released_on: date | None = None

    def occupies(self, night: date) -> bool:
        return self.from_night <= night and (self.released_on is None or night < self.released_on)


@dataclass(frozen=True)
class NightOccupancy:
    night: date
    capacity: int
    occupied: int

    @property
    def void(self) -> int:
        """Units empty that night."""
        return max(self.capacity - self.occupied, 0)


@dataclass(frozen=True)
class Occupancy:
    """A scheme's units night by night over a range, and what they add up to."""

    nights: tuple[NightOccupancy, ...]

    def __iter__(self):
        return iter(self.nights)

    @property
    def unit_nights(self) -> int:
        """Capacity summed over the nights."""
        return sum(n.capacity for n in self.nights)

    @property
    def let_unit_nights(self) -> int:
        return sum(min(n.occupied, n.capacity) for n in self.nights)

    @property
    def void_unit_nights(self) -> int:
        return sum(n.void for n in self.nights)

    @property
    def utilisation_percent(self) -> float | None:
        """Let unit-nights as a percentage of unit-nights; none if there was no capacity."""
        return round(100 * self.let_unit_nights / self.unit_nights, 1) if self.unit_nights else None


class Scheme(KindOfAggregate):
    """A provider's scheme: its provision type, pathway stage, support, capacity, and the units it has let."""

    created_by = SchemeRegistered
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

    def __init__(self, id: UUID):
        super().__init__(id)
        self.capacities: list[tuple[date, int]] = []
        """(effective from, units), in the order they take effect."""
        self.lettings: list[Letting] = []

    @classmethod
    def register(cls, *, provider: Provider, name: str, district: str, provision_type: ProvisionType,
                 pathway_stage: PathwayStage, support_level: Level, support_hours_per_week: float,
                 capacity_units: int, opened_on: date, max_stay_days: int | None, target_stay_days: int | None,
                 occurred_at: datetime, now: datetime) -> Scheme:
        check_district(district)
        check_dated(occurred_at, now)
        if pathway_stage is PathwayStage.assessment:
            max_stay_days = max_stay_days or EMERGENCY_MAX_STAY_DAYS
            target_stay_days = target_stay_days or min(EMERGENCY_TARGET_STAY_DAYS, max_stay_days)
            if max_stay_days > EMERGENCY_MAX_STAY_DAYS:
                raise EmergencyStayLimitTooLong(
                    f"an assessment / emergency stay lasts {EMERGENCY_MAX_STAY_DAYS} days (3 months) at most, "
                    f"not {max_stay_days}")
        if max_stay_days and target_stay_days and target_stay_days > max_stay_days:
            raise TargetStayLongerThanMaximum(
                f"the target stay ({target_stay_days} days) is longer than the maximum ({max_stay_days} days)")
        scheme = cls(uuid4())
        scheme.record(SchemeRegistered, district=district, occurred_at=occurred_at, scheme_id=scheme.id,
                      provider_id=provider.id, name=name, provision_type=provision_type, pathway_stage=pathway_stage,
                      support_level=support_level, support_hours_per_week=support_hours_per_week,
                      capacity_units=capacity_units, opened_on=opened_on, max_stay_days=max_stay_days,
                      target_stay_days=target_stay_days)
        return scheme

    # -- capacity and occupancy ------------------------------------------------------------------

    def capacity_on(self, night: date) -> int:
        units = 0
        for effective_from, capacity in self.capacities:
            if effective_from <= night:
                units = capacity
        return units

    def occupied_on(self, night: date) -> int:
        return sum(1 for letting in self.lettings if letting.occupies(night))

    def vacant_on(self, night: date) -> int:
        return max(self.capacity_on(night) - self.occupied_on(night), 0)

    def free_from(self, night: date) -> int:
        """Units that can be let from `night` on: free that night and every night after (a capacity cut
        or a letting already booked later counts), i.e. what a placement starting that night can take."""
        return min(self.vacant_on(n) for n in self._nights_that_change_from(night))

    def occupancy(self, first_night: date, last_night: date) -> Occupancy:
        """Capacity and units let on each night from `first_night` to `last_night`, both included."""
        nights = (first_night + timedelta(days=n) for n in range((last_night - first_night).days + 1))
        return Occupancy(tuple(NightOccupancy(night, self.capacity_on(night), self.occupied_on(night))
                               for night in nights))

    def _nights_that_change_from(self, night: date) -> list[date]:
        """`night`, and every later night on which a letting starts or the capacity changes: occupancy
        and capacity are constant between them, so checking these checks every night from `night` on."""
        later = {letting.from_night for letting in self.lettings if letting.from_night > night}
        later |= {effective_from for effective_from, _ in self.capacities if effective_from > night}
        return [night, *sorted(later)]

    def change_capacity(self, *, units: int, effective_from: date, occurred_at: datetime, now: datetime) -> None:
        check_dated(occurred_at, now)
        if effective_from < self.opened_on:
            raise CapacityChangeBeforeTheSchemeOpened(
                f"scheme {self.id} opened on {self.opened_on.isoformat()}, after {effective_from.isoformat()}")
        last_change = self.capacities[-1][0]
        if effective_from < last_change:
            raise CapacityChangeBeforeTheLastOne(
                f"the capacity of scheme {self.id} last changed from {last_change.isoformat()}: "
                f"a change cannot take effect before that")
        for night in self._nights_that_change_from(effective_from):
            if self.occupied_on(night) > units:
                raise CapacityBelowOccupancy(
                    f"scheme {self.id} has {self.occupied_on(night)} units let on the night of {night.isoformat()}: "
                    f"its capacity cannot fall to {units} from {effective_from.isoformat()}")
        self.record(SchemeCapacityChanged, district=self.district, occurred_at=occurred_at, scheme_id=self.id,
                    units=units, previous_units=self.capacity_on(effective_from), effective_from=effective_from)

    def allocate(self, placement_id: UUID, from_night: date, occurred_at: datetime) -> None:
        """Let a unit to a placement from `from_night` on, if one is free on every night from then on."""
        if from_night < self.opened_on:
            raise SchemeNotOpen(f"scheme {self.id} opens on {self.opened_on.isoformat()}, "
                                f"after the night of {from_night.isoformat()}")
        for night in self._nights_that_change_from(from_night):
            if self.occupied_on(night) >= self.capacity_on(night):
                raise PlacementWouldExceedCapacity(
                    f"scheme {self.id} has no unit free on the night of {night.isoformat()}: "
                    f"{self.occupied_on(night)} of its {self.capacity_on(night)} units are let")
        self.record(UnitAllocated, district=self.district, occurred_at=occurred_at, scheme_id=self.id,
                    placement_id=placement_id, from_night=from_night)

    def release(self, placement_id: UUID, released_on: date, occurred_at: datetime) -> None:
        self._open_letting_of(placement_id)
        self.record(UnitReleased, district=self.district, occurred_at=occurred_at, scheme_id=self.id,
                    placement_id=placement_id, released_on=released_on)

    def cut_short(self, placement_id: UUID, released_on: date, occurred_at: datetime) -> None:
        """Release earlier a unit held for a placement until a later day (a planned overlap), because the
        placement ended first."""
        if self._letting_held_after(placement_id, released_on) is not None:
            self.record(UnitReleased, district=self.district, occurred_at=occurred_at, scheme_id=self.id,
                        placement_id=placement_id, released_on=released_on)

    def _letting_held_after(self, placement_id: UUID, night: date) -> Letting | None:
        for letting in reversed(self.lettings):
            if letting.placement_id == placement_id and letting.released_on is not None \
                    and letting.released_on > night:
                return letting
        return None

    def _open_letting_of(self, placement_id: UUID) -> Letting:
        for letting in reversed(self.lettings):
            if letting.placement_id == placement_id and letting.released_on is None:
                return letting
        raise NoUnitLetToThePlacement(f"scheme {self.id} has no unit let to placement {placement_id}")

    # -- snapshots ---------------------------------------------------------------------------------

    SNAPSHOT_FORMAT = 2
    """Bumped whenever the state below changes shape: older snapshots are then ignored, not misread."""

    def to_snapshot(self) -> dict[str, Any]:
        """The scheme's state in JSON values, to load it again without replaying its history."""
        return {
            "provider_id": str(self.provider_id), "name": self.name, "district": self.district,
            "provision_type": self.provision_type.value, "pathway_stage": self.pathway_stage.value,
            "support_level": self.support_level.value, "support_hours_per_week": self.support_hours_per_week,
            "opened_on": self.opened_on.isoformat(), "max_stay_days": self.max_stay_days,
            "target_stay_days": self.target_stay_days,
            "capacities": [[effective_from.isoformat(), units] for effective_from, units in self.capacities],
            "lettings": [[str(letting.placement_id), letting.from_night.isoformat(),
                          letting.released_on.isoformat() if letting.released_on else None]
                         for letting in self.lettings],
        }

    @classmethod
    def from_snapshot(cls, scheme_id: UUID, version: int, state: dict[str, Any]) -> Scheme:
        """The scheme as it was at `version`, from `to_snapshot`'s values."""
        scheme = cls(scheme_id)
        scheme.version = scheme.snapshot_version = version
        scheme.provider_id = UUID(state["provider_id"])
        scheme.name = state["name"]
        scheme.district = state["district"]
        scheme.provision_type = ProvisionType(state["provision_type"])
        scheme.pathway_stage = PathwayStage(state["pathway_stage"])
        scheme.support_level = Level(state["support_level"])
        scheme.support_hours_per_week = state["support_hours_per_week"]
        scheme.opened_on = date.fromisoformat(state["opened_on"])
        scheme.max_stay_days = state["max_stay_days"]
        scheme.target_stay_days = state["target_stay_days"]
        scheme.capacities = [(date.fromisoformat(day), units) for day, units in state["capacities"]]
        scheme.lettings = [Letting(UUID(placement_id), date.fromisoformat(from_night),
                                   date.fromisoformat(released_on) if released_on else None)
                           for placement_id, from_night, released_on in state["lettings"]]
        return scheme

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type}")

    @apply.register
    def _(self, event: SchemeRegistered) -> None:
        self.provider_id = event.provider_id
        self.name = event.name
        self.district = event.district
        self.provision_type = event.provision_type
        self.pathway_stage = event.pathway_stage
        self.support_level = event.support_level
        self.support_hours_per_week = event.support_hours_per_week
        self.opened_on = event.opened_on
        self.max_stay_days = event.max_stay_days
        self.target_stay_days = event.target_stay_days
        self.capacities.append((event.opened_on, event.capacity_units))

    @apply.register
    def _(self, event: SchemeCapacityChanged) -> None:
        self.capacities.append((event.effective_from, event.units))

    @apply.register
    def _(self, event: UnitAllocated) -> None:
        self.lettings.append(Letting(event.placement_id, event.from_night))

    @apply.register
    def _(self, event: UnitReleased) -> None:
        letting = self._letting_held_after(event.placement_id, event.released_on)  # an overlap cut short
        (letting or self._open_letting_of(event.placement_id)).released_on = event.released_on


class EmergencyStayLimitTooLong(PlacementRefused):
    """An assessment / emergency stay lasts 3 months at most."""


class TargetStayLongerThanMaximum(PlacementRefused):
    """A scheme's target stay cannot be longer than its maximum stay."""


class CapacityChangeBeforeTheSchemeOpened(PlacementRefused):
    """A scheme's capacity cannot change before it opened."""


class CapacityChangeBeforeTheLastOne(PlacementRefused):
    """Capacity changes take effect in order: none before the last one recorded."""


class SchemeNotOpen(PlacementConflict):
    """No unit of a scheme can be let before the scheme opens."""


class PlacementWouldExceedCapacity(PlacementConflict):
    """The scheme has no unit free: every unit is let on some night from the start of the stay on."""


class CapacityBelowOccupancy(PlacementConflict):
    """A scheme's capacity cannot fall below the units it has let."""


class NoUnitLetToThePlacement(PlacementConflict):
    """The scheme has no unit let to that placement."""


class SchemeNotFound(NotFound):
    """No scheme has that id."""


class UnknownScheme(PlacementRefused):
    """The scheme named in the request is not in the catalogue."""
