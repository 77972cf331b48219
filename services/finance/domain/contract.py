"""A contract with a provider for one or more schemes: its revenue package and funding shares, each changed from
a day on (earlier days keep theirs: nothing recorded is ever edited).

Rules:
- a contract ends on or after the day it starts (ContractEndsBeforeItStarts); a block contract says how many units
  it pays for (BlockContractWithoutUnits); one priced per support hour has support only (SupportHourPriceWithRent);
  it names each scheme once (SchemeNamedTwice); its funding shares sum to 100% (FundingSharesNotWhole);
- a price or funding change takes effect within the contract: not before it starts (PriceBeforeContract,
  FundingBeforeContract) nor after it ends (PriceAfterContract, FundingAfterContract);
- nothing is dated after now (EventDatedInTheFuture).
Which contract covers a scheme on a day, and that no two overlap, is the scheme's cover's (scheme_cover.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import singledispatchmethod
from uuid import UUID

from shared.contracts import Event
from shared.contracts.finance import (
    ContractAgreed,
    ContractFundingChanged,
    ContractPriceChanged,
    FundingShare,
    Package,
    PaymentByResults,
    PriceBasis,
    Procurement,
)
from shared.contracts.outcomes import ServiceType

from .base import FinanceAggregate, about_no_one, check_dated, check_district, check_funding
from .errors import FinanceRefused


@dataclass(frozen=True)
class Dated:
    """A package or funding in force from a day on, as one event recorded it (the agreement or a change)."""

    effective_from: date
    version: int
    """The contract's version that recorded it: of two from the same day, the later recorded wins."""
    occurred_at: datetime
    event_id: UUID


@dataclass(frozen=True)
class DatedPackage(Dated):
    package: Package


@dataclass(frozen=True)
class DatedFunding(Dated):
    funding: tuple[FundingShare, ...]


def check_terms(*, procurement: Procurement, scheme_ids: Sequence[UUID], starts_on: date, ends_on: date | None,
                contracted_units: int | None, basis: PriceBasis, package: Package) -> None:
    """The rules of a contract's terms that need no state (the HTTP body checks them too)."""
    if ends_on is not None and ends_on < starts_on:
        raise ContractEndsBeforeItStarts(f"the contract ends on {ends_on}, before it starts ({starts_on})",
                                         field="ends_on")
    if procurement.is_block and contracted_units is None:
        raise BlockContractWithoutUnits(f"a {procurement} contract says how many units it pays for whatever the "
                                        "occupancy (contracted_units)", field="contracted_units")
    if procurement.is_block and basis is not PriceBasis.per_unit_week:
        raise BlockPricedPerHour(f"a {procurement} contract pays for units whatever the occupancy: price it per unit "
                                 "per week", field="basis")
    check_basis(basis, package)
    if len(set(scheme_ids)) != len(scheme_ids):
        raise SchemeNamedTwice("the contract names a scheme more than once", field="scheme_ids")


def check_basis(basis: PriceBasis, package: Package, field: str = "package") -> None:
    if basis == PriceBasis.per_support_hour and (package.rent or package.service_charge):
        raise SupportHourPriceWithRent("a contract priced per support hour has support only: no rent or service "
                                       "charge", field=field)


def in_force(history: Sequence[Dated], day: date) -> Dated | None:
    """What is in force on `day`: the latest effective on or before it (of two from one day, the later recorded)."""
    return max((entry for entry in history if entry.effective_from <= day),
               key=lambda entry: (entry.effective_from, entry.version), default=None)


class Contract(FinanceAggregate):
    """A contract; its id is the contract's."""

    created_by = ContractAgreed
    agreed: ContractAgreed
    prices: list[DatedPackage]
    """The package as agreed, then each change, in the order recorded."""
    funding_history: list[DatedFunding]

    @classmethod
    def agree(cls, contract_id: UUID, *, provider_id: UUID, name: str, procurement: Procurement,
              service_type: ServiceType, scheme_ids: Sequence[UUID], starts_on: date, ends_on: date | None,
              contracted_units: int | None, basis: PriceBasis, package: Package, funding: Sequence[FundingShare],
              payment_by_results: PaymentByResults | None, district: str, occurred_at: datetime,
              now: datetime) -> Contract:
        check_dated(occurred_at, now)
        district = check_district(district, occurred_at)
        check_terms(procurement=procurement, scheme_ids=scheme_ids, starts_on=starts_on, ends_on=ends_on,
                    contracted_units=contracted_units, basis=basis, package=package)
        shares = check_funding(funding)
        contract = cls(contract_id)
        contract.record(ContractAgreed, **about_no_one(district), occurred_at=occurred_at, contract_id=contract_id,
                        provider_id=provider_id, name=name, procurement=procurement, service_type=service_type,
                        scheme_ids=list(scheme_ids), starts_on=starts_on, ends_on=ends_on,
                        contracted_units=contracted_units, basis=basis, package=package, funding=shares,
                        payment_by_results=payment_by_results)
        return contract

    def change_price(self, *, effective_from: date, package: Package, occurred_at: datetime, now: datetime) -> None:
        check_dated(occurred_at, now)
        if effective_from < self.starts_on:
            raise PriceBeforeContract(f"a price from {effective_from} is before contract {self.id} starts "
                                      f"({self.starts_on})", field="effective_from")
        if self.ends_on is not None and effective_from > self.ends_on:
            raise PriceAfterContract(f"a price from {effective_from} is after contract {self.id} ends "
                                     f"({self.ends_on})", field="effective_from")
        check_basis(self.agreed.basis, package)
        self.record(ContractPriceChanged, **about_no_one(self.agreed.district), occurred_at=occurred_at,
                    contract_id=self.id, effective_from=effective_from, package=package)

    def change_funding(self, *, effective_from: date, funding: Sequence[FundingShare], occurred_at: datetime,
                       now: datetime) -> None:
        check_dated(occurred_at, now)
        if effective_from < self.starts_on:
            raise FundingBeforeContract(f"funding from {effective_from} is before contract {self.id} starts "
                                        f"({self.starts_on})", field="effective_from")
        if self.ends_on is not None and effective_from > self.ends_on:
            raise FundingAfterContract(f"funding from {effective_from} is after contract {self.id} ends "
                                       f"({self.ends_on})", field="effective_from")
        shares = check_funding(funding)
        self.record(ContractFundingChanged, **about_no_one(self.agreed.district), occurred_at=occurred_at,
                    contract_id=self.id, effective_from=effective_from, funding=shares)

    # -- what it says ---------------------------------------------------------------------------------

    @property
    def starts_on(self) -> date:
        return self.agreed.starts_on

    @property
    def ends_on(self) -> date | None:
        return self.agreed.ends_on

    def covers(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    def package_on(self, day: date) -> Package | None:
        """The revenue package in force on `day`; None outside the contract."""
        entry = in_force(self.prices, day) if self.covers(day) else None
        return entry.package if isinstance(entry, DatedPackage) else None

    def funding_on(self, day: date) -> list[FundingShare] | None:
        """The funding shares in force on `day`; None outside the contract."""
        entry = in_force(self.funding_history, day) if self.covers(day) else None
        return list(entry.funding) if isinstance(entry, DatedFunding) else None

    # -- applying its events ----------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a contract cannot apply {event.event_type}")

    @apply.register
    def _(self, event: ContractAgreed) -> None:
        self.agreed = event
        self.prices = [DatedPackage(event.starts_on, event.aggregate_version, event.occurred_at, event.event_id,
                                    event.package)]
        self.funding_history = [DatedFunding(event.starts_on, event.aggregate_version, event.occurred_at,
                                             event.event_id, tuple(event.funding))]

    @apply.register
    def _(self, event: ContractPriceChanged) -> None:
        self.prices.append(DatedPackage(event.effective_from, event.aggregate_version, event.occurred_at,
                                        event.event_id, event.package))

    @apply.register
    def _(self, event: ContractFundingChanged) -> None:
        self.funding_history.append(DatedFunding(event.effective_from, event.aggregate_version, event.occurred_at,
                                                 event.event_id, tuple(event.funding)))


# -- errors -----------------------------------------------------------------------------------------


class ContractEndsBeforeItStarts(FinanceRefused):
    """A contract ends on or after the day it starts."""


class BlockContractWithoutUnits(FinanceRefused):
    """A block contract says how many units it pays for whatever the occupancy."""


class BlockPricedPerHour(FinanceRefused):
    """A block contract is priced per unit per week (it pays for units, used or not)."""


class SupportHourPriceWithRent(FinanceRefused):
    """A contract priced per support hour has support only: no rent or service charge."""


class SchemeNamedTwice(FinanceRefused):
    """A contract names each scheme it covers once."""


class PriceBeforeContract(FinanceRefused):
    """A price takes effect on or after the day its contract starts."""


class PriceAfterContract(FinanceRefused):
    """A price takes effect on or before the day its contract ends."""


class FundingBeforeContract(FinanceRefused):
    """Funding shares take effect on or after the day their contract starts."""


class FundingAfterContract(FinanceRefused):
    """Funding shares take effect on or before the day their contract ends."""
