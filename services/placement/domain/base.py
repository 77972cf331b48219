"""What the placement aggregates share: how a moment becomes a night, and knowing their own kind."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import ClassVar, Self

from shared.aggregate import Aggregate
from shared.contracts import Event
from shared.contracts.vocabulary import DistrictNotInForce as NotInForce
from shared.contracts.vocabulary import UnknownDistrict as NotADistrict
from shared.contracts.vocabulary import district_in_force, known_district

from .errors import DistrictNotInForce, EventDatedInTheFuture, UnknownDistrict


def night_of(moment: datetime) -> date:
    """Nights are UTC dates: a unit let from night N and released on day M is occupied on the nights N..M-1."""
    return moment.astimezone(UTC).date()


def check_dated(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now:
        raise EventDatedInTheFuture(f"{occurred_at.isoformat()} is after now")


def check_district(code: str, occurred_at: datetime | None = None) -> str:
    """`code` if the register knows it and, given the moment of a new fact, it is in force that night."""
    try:
        return known_district(code) if occurred_at is None else district_in_force(code, night_of(occurred_at))
    except NotADistrict as error:
        raise UnknownDistrict(str(error), field="district") from None
    except NotInForce as error:
        raise DistrictNotInForce(str(error), field="district") from None


class KindOfAggregate(Aggregate):
    """An aggregate that knows the event creating it, so a history loaded by id is recognised as its kind."""

    created_by: ClassVar[type[Event]]
    snapshot_version: int = 0
    """The version of the snapshot it was loaded from (0: replayed from its first event)."""

    def catch_up(self, events: Iterable[Event]) -> Self:
        """Apply the events recorded since its version: a snapshot's state brought up to date."""
        for event in events:
            self._replay(event)
        return self
