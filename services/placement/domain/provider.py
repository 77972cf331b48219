"""Providers: the organisations whose schemes give accommodation or support."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from uuid import uuid4

from shared.contracts import Event
from shared.contracts.placement import ProviderRegistered
from shared.errors import NotFound

from .base import KindOfAggregate, check_dated, check_district
from .errors import PlacementRefused


class Provider(KindOfAggregate):
    """An organisation providing accommodation or support (YMCA, a foyer, a supported lodgings scheme...)."""

    created_by = ProviderRegistered
    name: str
    district: str

    @classmethod
    def register(cls, *, name: str, district: str, occurred_at: datetime, now: datetime) -> Provider:
        check_district(district, occurred_at)
        check_dated(occurred_at, now)
        provider = cls(uuid4())
        provider.record(ProviderRegistered, district=district, occurred_at=occurred_at, provider_id=provider.id,
                        name=name)
        return provider

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type}")

    @apply.register
    def _(self, event: ProviderRegistered) -> None:
        self.name = event.name
        self.district = event.district


class ProviderNotFound(NotFound):
    """No provider has that id."""


class UnknownProvider(PlacementRefused):
    """The provider named in the request is not in the catalogue."""
