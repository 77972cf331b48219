"""An individual service fund: money held for one young person, agreed for a case and spent against it
[003 4.5].

Rules:
- a fund ends on or after the day it starts (FundEndsBeforeItStarts);
- spending falls within the fund's days (SpendingOutsideFund) and never takes more than is left (FundOverspent);
- nothing is dated after now, neither the record nor the day spent (EventDatedInTheFuture).
The case is the one the request names: finance keeps no directory of cases yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from shared.contracts import Event
from shared.contracts.finance import FundingStream, IndividualServiceFundAgreed, IndividualServiceFundSpent

from .base import FinanceAggregate, check_dated, check_district, day_of
from .errors import EventDatedInTheFuture, FinanceConflict, FinanceRefused


@dataclass(frozen=True)
class Spending:
    amount: int
    spent_on: date
    purpose: str
    occurred_at: datetime
    event_id: UUID


class IndividualServiceFund(FinanceAggregate):
    """A young person's individual service fund; its id is the fund's."""

    created_by = IndividualServiceFundAgreed
    agreed: IndividualServiceFundAgreed
    spending: list[Spending]

    @classmethod
    def agree(cls, fund_id: UUID, *, case_id: UUID, person_ref: UUID, district: str, amount: int,
              stream: FundingStream, starts_on: date, ends_on: date, occurred_at: datetime,
              now: datetime) -> IndividualServiceFund:
        check_dated(occurred_at, now)
        district = check_district(district, occurred_at)
        if ends_on < starts_on:
            raise FundEndsBeforeItStarts(f"the fund ends on {ends_on}, before it starts ({starts_on})",
                                         field="ends_on")
        fund = cls(fund_id)
        fund.record(IndividualServiceFundAgreed, case_id=case_id, person_ref=person_ref, district=district,
                    occurred_at=occurred_at, fund_id=fund_id, amount=amount, stream=stream, starts_on=starts_on,
                    ends_on=ends_on)
        return fund

    def spend(self, *, amount: int, spent_on: date, purpose: str, occurred_at: datetime, now: datetime) -> None:
        check_dated(occurred_at, now)
        if spent_on > day_of(now):
            raise EventDatedInTheFuture(f"money spent on {spent_on} is spent after today", field="spent_on")
        if not self.agreed.starts_on <= spent_on <= self.agreed.ends_on:
            raise SpendingOutsideFund(f"fund {self.id} runs from {self.agreed.starts_on} to {self.agreed.ends_on}: "
                                      f"not {spent_on}", field="spent_on")
        if amount > self.balance:
            raise FundOverspent(f"fund {self.id} has {self.balance} pence left of {self.agreed.amount}: spending "
                                f"{amount} would overspend it by {amount - self.balance}", balance=self.balance)
        self.record(IndividualServiceFundSpent, **self._facts(), occurred_at=occurred_at, fund_id=self.id,
                    amount=amount, spent_on=spent_on, purpose=purpose)

    @property
    def spent(self) -> int:
        return sum(spending.amount for spending in self.spending)

    @property
    def balance(self) -> int:
        """Pence left to spend."""
        return self.agreed.amount - self.spent

    def _facts(self) -> dict[str, Any]:
        return {"case_id": self.agreed.case_id, "person_ref": self.agreed.person_ref,
                "district": self.agreed.district}

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"an individual service fund cannot apply {event.event_type}")

    @apply.register
    def _(self, event: IndividualServiceFundAgreed) -> None:
        self.agreed, self.spending = event, []

    @apply.register
    def _(self, event: IndividualServiceFundSpent) -> None:
        self.spending.append(Spending(event.amount, event.spent_on, event.purpose, event.occurred_at,
                                      event.event_id))


# -- errors -----------------------------------------------------------------------------------------


class FundEndsBeforeItStarts(FinanceRefused):
    """An individual service fund ends on or after the day it starts."""


class SpendingOutsideFund(FinanceRefused):
    """Money is spent from a fund on a day within the fund's days."""


class FundOverspent(FinanceConflict):
    """A fund is never overspent: spending takes at most what is left."""

    def __init__(self, message: str = "", *, balance: int, field: str | None = "amount"):
        super().__init__(message, field=field)
        self.balance = balance

    def reasons(self) -> list[dict[str, Any]]:
        return [reason | {"balance": self.balance} for reason in super().reasons()]
