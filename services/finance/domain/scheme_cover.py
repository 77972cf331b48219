"""A scheme's cover: which contract covers the scheme over which days. One per scheme; its id is derived from the
scheme's (`scheme_cover_id`), so every request covering a scheme changes the same aggregate.

A contract is saved with the cover of each of its schemes, in one `record(...)`: two requests agreeing
overlapping contracts for a scheme at the same moment both write the cover's next version, the store's unique
(aggregate, version) key refuses the second, and that request decides again on what the first saved: an
OverlappingContract (409) naming the other contract.

Rules: no two contracts cover a scheme on the same day (OverlappingContract).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid5

from shared.contracts import Event
from shared.contracts.finance import SchemeCovered

from .base import FinanceAggregate, about_no_one
from .contract import Contract
from .errors import FinanceConflict

SCHEME_COVER_NAMESPACE = UUID("9c6712d8-961e-593a-a40c-a77dee316f3b")
"""Fixed for good (made once as uuid5 of the URL namespace and "https://casetrack.invalid/finance/scheme-cover"):
changing it would lose every scheme's cover."""


def scheme_cover_id(scheme_id: UUID) -> UUID:
    return uuid5(SCHEME_COVER_NAMESPACE, str(scheme_id))


@dataclass(frozen=True)
class Cover:
    contract_id: UUID
    starts_on: date
    ends_on: date | None

    def overlaps(self, starts_on: date, ends_on: date | None) -> bool:
        return (self.ends_on is None or starts_on <= self.ends_on) and (ends_on is None or self.starts_on <= ends_on)

    def covers(self, day: date) -> bool:
        return self.overlaps(day, day)

    def __str__(self) -> str:
        return f"{self.starts_on} to {self.ends_on or 'open-ended'}"


class SchemeCover(FinanceAggregate):
    """Which contract covers one scheme over which days."""

    created_by = SchemeCovered

    def __init__(self, id: UUID):
        super().__init__(id)
        self.scheme_id: UUID | None = None
        self.covers: list[Cover] = []

    @classmethod
    def of(cls, scheme_id: UUID) -> SchemeCover:
        """A scheme no contract has covered yet."""
        cover = cls(scheme_cover_id(scheme_id))
        cover.scheme_id = scheme_id
        return cover

    def cover(self, contract: Contract) -> None:
        """Record that `contract` covers the scheme over its days, or OverlappingContract."""
        new = Cover(contract.id, contract.starts_on, contract.ends_on)
        for cover in self.covers:
            if cover.overlaps(new.starts_on, new.ends_on):
                raise OverlappingContract(
                    f"scheme {self.scheme_id} is covered by contract {cover.contract_id} ({cover}): contract "
                    f"{contract.id} ({new}) would overlap it", other_contract_id=cover.contract_id,
                    scheme_id=self.scheme_id)
        self.record(SchemeCovered, **about_no_one(contract.agreed.district), occurred_at=contract.agreed.occurred_at,
                    scheme_id=self.scheme_id, contract_id=contract.id, starts_on=new.starts_on, ends_on=new.ends_on)

    def contract_on(self, day: date) -> UUID | None:
        """The contract covering the scheme on `day`, if any."""
        return next((cover.contract_id for cover in self.covers if cover.covers(day)), None)

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a scheme's cover cannot apply {event.event_type}")

    @apply.register
    def _(self, event: SchemeCovered) -> None:
        self.scheme_id = event.scheme_id
        self.covers.append(Cover(event.contract_id, event.starts_on, event.ends_on))


class OverlappingContract(FinanceConflict):
    """No two contracts cover a scheme on the same day."""

    def __init__(self, message: str = "", *, other_contract_id: UUID, scheme_id: UUID | None,
                 field: str | None = "scheme_ids"):
        super().__init__(message, field=field)
        self.other_contract_id, self.scheme_id = other_contract_id, scheme_id

    def reasons(self) -> list[dict[str, Any]]:
        return [reason | {"contract_id": str(self.other_contract_id), "scheme_id": str(self.scheme_id)}
                for reason in super().reasons()]
