"""Floating support: support attached to the young person, not to a building [004]. An episode takes one support
place of a floating support scheme from its start to its end, and runs alongside a placement or in the young
person's own home; it is never a placement, and a floating support scheme takes no placements.

A young person has one open episode at a time (whoever provides it): a second provider's support is a new
episode after the first ends. An episode needs an open case, as a placement does, but no panel decision: floating
support is arranged with the provider, and a district whose panel allocates it records the decision as usual.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Literal
from uuid import UUID

from shared.contracts import Event
from shared.contracts.placement import FloatingSupportEnded, FloatingSupportStarted
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.contracts.vocabulary import Cohort
from shared.errors import NotFound

from .base import KindOfAggregate, check_dated, night_of
from .errors import PlacementConflict, PlacementRefused
from .placement import DestinationCannotBePlanned, KnownCase
from .scheme import PlacementWouldExceedCapacity, Scheme
from .vocabulary import check_new_destination


def floating_support_episode_id_for(person_ref: UUID, number: int, key: bytes) -> UUID:
    """The id of a young person's `number`th floating support episode: a keyed hash (HMAC-SHA256) of
    "floating-support/<person_ref>/<number>" (never the id of a placement). Two episodes started at once for the
    same young person get the same id, so the store refuses one of them; without the key nobody can tell whose
    episode an id is."""
    digest = hmac.new(key, f"floating-support/{person_ref}/{number}".encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=4)


def check_takes_placements(scheme: Scheme, field: str = "scheme_id") -> None:
    """A floating support scheme's units are support places for episodes: no placement starts or moves into one."""
    if scheme.provision_type is ProvisionType.floating_support:
        raise FloatingSupportSchemeTakesNoPlacements(
            f"scheme {scheme.id} gives floating support, attached to the person: start a floating support episode "
            f"instead of a placement", field=field)


class FloatingSupportEpisode(KindOfAggregate):
    """A young person's floating support from one scheme, from its start to its end."""

    created_by = FloatingSupportStarted
    number: int
    case_id: UUID
    person_ref: UUID
    district: str
    cohort: Cohort
    scheme_id: UUID
    provider_id: UUID
    started_at: datetime
    in_placement_id: UUID | None
    ended_at: datetime | None = None
    ending: FloatingSupportEnded | None = None

    @property
    def open(self) -> bool:
        return self.ending is None

    @property
    def status(self) -> Literal["open", "ended"]:
        return "open" if self.ending is None else "ended"

    def days_supported(self, today: date) -> int:
        """Whole days from the night support started to the day it ended, or to today while it runs."""
        return ((night_of(self.ended_at) if self.ended_at else today) - night_of(self.started_at)).days

    @classmethod
    def start(cls, *, case: KnownCase, number: int, episode_id: UUID, previous: FloatingSupportEpisode | None,
              scheme: Scheme, in_placement_id: UUID | None, occurred_at: datetime,
              now: datetime) -> FloatingSupportEpisode:
        """Start the young person's `number`th episode in `scheme`, after `previous`: it takes a support place."""
        check_dated(occurred_at, now)
        if case.referred_at is not None and occurred_at < case.referred_at:
            raise FloatingSupportBeforeReferral(
                f"the floating support is dated {occurred_at.isoformat()}, before the referral on "
                f"{case.referred_at.isoformat()}")
        if not case.open:
            raise FloatingSupportNeedsAnOpenCase(f"case {case.case_id} is closed: floating support needs an open case")
        if case.reopened_at is not None and occurred_at < case.reopened_at:
            raise FloatingSupportBeforeReferral(
                f"the floating support is dated {occurred_at.isoformat()}, while the case was closed (it was "
                f"reopened on {case.reopened_at.isoformat()})")
        if scheme.provision_type is not ProvisionType.floating_support:
            raise NotAFloatingSupportScheme(
                f"scheme {scheme.id} is {scheme.provision_type.value}, not floating_support: place the young person "
                f"there instead", field="scheme_id")
        if previous is not None and previous.open:
            raise YoungPersonAlreadyHasFloatingSupport(
                f"the young person has floating support in episode {previous.id} (scheme {previous.scheme_id}): "
                f"end it first")
        if previous is not None and previous.ended_at and occurred_at < previous.ended_at:
            raise FloatingSupportEpisodesWouldOverlap(
                f"the young person's previous floating support {previous.id} ended on "
                f"{previous.ended_at.isoformat()}, after {occurred_at.isoformat()}")
        episode = cls(episode_id)
        try:
            scheme.allocate(episode.id, night_of(occurred_at), occurred_at)
        except PlacementWouldExceedCapacity:
            raise NoSupportPlaceFree(f"scheme {scheme.id} has no support place free on every night from "
                                     f"{night_of(occurred_at).isoformat()} on") from None
        episode.record(FloatingSupportStarted, case_id=case.case_id, person_ref=case.person_ref,
                       district=case.district, occurred_at=occurred_at, episode_id=episode.id, episode_number=number,
                       scheme_id=scheme.id, provider_id=scheme.provider_id, scheme_district=scheme.district,
                       support_level=scheme.support_level, support_hours_per_week=scheme.support_hours_per_week,
                       cohort=case.cohort, in_placement_id=in_placement_id)
        return episode

    def end(self, *, scheme: Scheme, planned: bool, destination: Destination, hours_delivered: float | None,
            occurred_at: datetime, now: datetime) -> None:
        """The floating support ends, planned or not, with where the young person then lived: its place is freed."""
        if not self.open:
            raise FloatingSupportAlreadyEnded(f"floating support {self.id} ended on {self.ended_at.isoformat()}")
        check_dated(occurred_at, now)
        if occurred_at < self.started_at:
            raise FloatingSupportEndsBeforeItStarted(
                f"the end on {occurred_at.isoformat()} is before the support started on {self.started_at.isoformat()}")
        check_new_destination(destination, floating_support=True)
        destination = Destination(destination)
        if planned and not destination.can_be_planned:
            raise DestinationCannotBePlanned(f"an end of support with destination {destination.value} is never planned")
        ended_on = night_of(occurred_at)
        scheme.release(self.id, ended_on, occurred_at)
        self.record(FloatingSupportEnded, case_id=self.case_id, person_ref=self.person_ref, district=self.district,
                    occurred_at=occurred_at, episode_id=self.id, scheme_id=self.scheme_id, planned=planned,
                    destination=destination, days_supported=(ended_on - night_of(self.started_at)).days,
                    hours_delivered=hours_delivered)

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type}")

    @apply.register
    def _(self, event: FloatingSupportStarted) -> None:
        self.number = event.episode_number
        self.case_id = event.case_id
        self.person_ref = event.person_ref
        self.district = event.district
        self.cohort = event.cohort
        self.scheme_id = event.scheme_id
        self.provider_id = event.provider_id
        self.started_at = event.occurred_at
        self.in_placement_id = event.in_placement_id

    @apply.register
    def _(self, event: FloatingSupportEnded) -> None:
        self.ended_at = event.occurred_at
        self.ending = event


class FloatingSupportSchemeTakesNoPlacements(PlacementRefused):
    """A floating support scheme gives support attached to the person: it takes episodes, never placements."""


class NotAFloatingSupportScheme(PlacementRefused):
    """A floating support episode takes a place in a floating support scheme only."""


class FloatingSupportBeforeReferral(PlacementRefused):
    """No floating support starts before the young person's referral (nor while their case was closed)."""


class FloatingSupportEndsBeforeItStarted(PlacementRefused):
    """A floating support episode cannot end before it started."""


class FloatingSupportNeedsAnOpenCase(PlacementConflict):
    """Floating support starts only on an open case."""


class YoungPersonAlreadyHasFloatingSupport(PlacementConflict):
    """A young person has one floating support episode at a time: end the one they have first."""


class FloatingSupportEpisodesWouldOverlap(PlacementConflict):
    """A new floating support episode cannot start before the young person's previous one ended."""


class NoSupportPlaceFree(PlacementConflict):
    """The floating support scheme has no support place free: every place is taken on some night from the start."""


class FloatingSupportAlreadyEnded(PlacementConflict):
    """An ended floating support episode takes no more ends."""


class FloatingSupportNotFound(NotFound):
    """No floating support episode has that id."""


class NoFloatingSupportNow(NotFound):
    """The young person has no floating support now."""
