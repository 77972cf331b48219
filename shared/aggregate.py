"""The pure base of every aggregate: state changed only by applying its own past-tense events.

Imports nothing but the event contracts, so a service's `domain/` stays free of the store, the web and NATS.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import singledispatchmethod
from typing import Any, Self
from uuid import UUID

from shared.contracts import Event


class Aggregate:
    """An event-sourced aggregate whose events are contract models.

    Subclasses change state only in `apply`, registered per event type with `@Aggregate.apply.register`.
    """

    def __init__(self, id: UUID):
        self.id = id
        self.version = 0
        self._pending: list[Event] = []

    @classmethod
    def from_history(cls, events: Iterable[Event]) -> Self | None:
        aggregate: Self | None = None
        for event in events:
            if aggregate is None:
                aggregate = cls(event.aggregate_id)
            aggregate._replay(event)
        return aggregate

    def _replay(self, event: Event) -> None:
        self.apply(event)
        self.version = event.aggregate_version

    def record(self, event_class: type[Event], **fields: Any) -> Event:
        event = event_class(aggregate_id=self.id, aggregate_version=self.version + 1, **fields)
        self._replay(event)
        self._pending.append(event)
        return event

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type}")

    def collect_events(self) -> list[Event]:
        pending, self._pending = self._pending, []
        return pending
