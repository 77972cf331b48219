"""What a stay cost in a month, as published for the other services (the journeys put a cost on each step).

One aggregate per stay and calendar month, its id derived from both (`stay_cost_id`): the cost run records a
`CostAccrued` on it when the month's cost is new or has changed (a price changed back in time, an outcome released
payment by results), and nothing when it is the same, so running it again publishes nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import singledispatchmethod
from uuid import UUID, uuid5

from shared.contracts import Event
from shared.contracts.finance import CostAccrued, CostPart

from .base import FinanceAggregate

STAY_COST_NAMESPACE = UUID("5f0b7f59-3c1e-5c5e-9a57-3e8f6c1d2b40")
"""Fixed for good: changing it would publish every stay's months again as new aggregates."""


def stay_cost_id(stay_id: UUID, month: date) -> UUID:
    return uuid5(STAY_COST_NAMESPACE, f"{stay_id}/{month.isoformat()}")


class StayMonthCost(FinanceAggregate):
    created_by = CostAccrued
    published: tuple[int, int, int, CostPart] | None = None

    @classmethod
    def new(cls, stay_id: UUID, month: date) -> StayMonthCost:
        return cls(stay_cost_id(stay_id, month))

    def accrue(self, *, case_id: UUID, person_ref: UUID, district: str, stay_id: UUID, placement_id: UUID | None,
               scheme_id: UUID, contract_id: UUID | None, month: date, days: int, cost: CostPart, held_back: int,
               occurred_at: datetime) -> bool:
        """Record the month's cost if it differs from what was published; whether it did."""
        if self.published == (days, held_back, contract_id, cost):
            return False
        self.record(CostAccrued, case_id=case_id, person_ref=person_ref, district=district, occurred_at=occurred_at,
                    stay_id=stay_id, placement_id=placement_id, scheme_id=scheme_id, contract_id=contract_id,
                    month=month, days=days, cost=cost, held_back=held_back)
        return True

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a stay's month cost cannot apply {event.event_type}")

    @apply.register
    def _(self, event: CostAccrued) -> None:
        self.published = (event.days, event.held_back, event.contract_id, event.cost)
