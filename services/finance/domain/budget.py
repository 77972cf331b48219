"""A budget for a service type (and, optionally, a client group) in a financial year (April to March).

One per financial year, service type and client group: its id is derived from the three (`budget_id_for`), so
setting it again changes the same aggregate. Each `BudgetSet` replaces the amount (and capacity) from then on;
the earlier ones stay in its history.

Rules: a budget is set in a district in force (UnknownDistrict, DistrictNotInForce), not dated after now
(EventDatedInTheFuture); the amount, the year and the capacity are the event's to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import singledispatchmethod
from uuid import UUID, uuid5

from shared.contracts import Event
from shared.contracts.finance import BudgetSet
from shared.contracts.outcomes import ServiceType
from shared.contracts.vocabulary import Cohort

from .base import FinanceAggregate, about_no_one, check_dated, check_district

BUDGET_NAMESPACE = UUID("aa6d0e63-183c-5817-bc3e-8c685002db81")
"""Fixed for good (made once as uuid5 of the URL namespace and "https://casetrack.invalid/finance/budget"):
changing it would lose every budget."""
EVERY_CLIENT_GROUP = "all"


def budget_id_for(financial_year: int, service_type: ServiceType, client_group: Cohort | None) -> UUID:
    return uuid5(BUDGET_NAMESPACE, f"{financial_year}/{service_type}/{client_group or EVERY_CLIENT_GROUP}")


def financial_year_of(day: date) -> int:
    """The year a financial year begins (April to March): 2013 for 2013-14."""
    return day.year if day.month >= 4 else day.year - 1


@dataclass(frozen=True)
class Setting:
    amount: int
    capacity_units: int | None
    district: str
    occurred_at: datetime
    actor: str
    event_id: UUID


class Budget(FinanceAggregate):
    """A budget; its id is `budget_id_for` its year, service type and client group."""

    created_by = BudgetSet

    def __init__(self, id: UUID):
        super().__init__(id)
        self.financial_year: int = 0
        self.service_type: ServiceType | None = None
        self.client_group: Cohort | None = None
        self.settings: list[Setting] = []

    @classmethod
    def of(cls, financial_year: int, service_type: ServiceType, client_group: Cohort | None) -> Budget:
        """A budget not set yet."""
        budget = cls(budget_id_for(financial_year, service_type, client_group))
        budget.financial_year, budget.service_type, budget.client_group = financial_year, service_type, client_group
        return budget

    def set(self, *, amount: int, capacity_units: int | None, district: str, occurred_at: datetime,
            now: datetime) -> None:
        check_dated(occurred_at, now)
        district = check_district(district, occurred_at)
        self.record(BudgetSet, **about_no_one(district), occurred_at=occurred_at, budget_id=self.id,
                    financial_year=self.financial_year, service_type=self.service_type,
                    client_group=self.client_group, amount=amount, capacity_units=capacity_units)

    @property
    def current(self) -> Setting:
        return self.settings[-1]

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a budget cannot apply {event.event_type}")

    @apply.register
    def _(self, event: BudgetSet) -> None:
        self.financial_year, self.service_type = event.financial_year, event.service_type
        self.client_group = event.client_group
        self.settings.append(Setting(event.amount, event.capacity_units, event.district, event.occurred_at,
                                     event.actor, event.event_id))
