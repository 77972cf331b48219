"""Events recorded by the finance service: contracts and their prices, funding streams and their shares, budgets,
individual service funds, and the cost accrued per case per month.

Money is integer pence [ARCHITECTURE decision 10]. A contract's price is a **revenue package**: rent, service
charge and support, each in pence per unit per week (or support in pence per support hour), so that the whole
package and support only can be compared across schemes [000 slide 22]. Funding shares are basis points
(1/100 of a percent) summing to 10,000. Contract, budget and fund events are about no young person: their
`case_id` and `person_ref` are the nil UUID (`NO_CASE`) and their district is the commissioning council's.
"""

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.envelope import Event
from shared.contracts.outcomes import Outcome, ServiceType
from shared.contracts.vocabulary import Cohort

NO_CASE = UUID(int=0)
ALL = 10_000
"""Basis points in a whole: funding shares sum to this."""


class Procurement(StrEnum):
    """How a contract was bought [000 slides 19-25, 001, 003 4.5]."""

    spot = "spot"
    """Paid per unit-day used."""
    block_gross = "block_gross"
    """A block of units paid for whatever the occupancy; the provider keeps any rent it collects."""
    block_subsidy = "block_subsidy"
    """A block of units paid for whatever the occupancy, net of the rent the provider collects (the council pays
    the support and service charge parts only)."""
    framework = "framework"
    """A framework agreement: prices agreed in advance, paid per unit-day used."""
    dynamic_purchasing = "dynamic_purchasing"
    """A call-off from a dynamic purchasing system (Lancashire's, open for up to 10 years): paid per unit-day
    used."""

    @property
    def is_block(self) -> bool:
        return self in (Procurement.block_gross, Procurement.block_subsidy)


class FundingStream(StrEnum):
    """Who pays [000 slides 21-23; DOMAIN.md "Money"]."""

    childrens_services_placements = "childrens_services_placements"
    leaving_care = "leaving_care"
    section_17 = "section_17"
    """Emergency accommodation for 16/17 year olds who are not looked after."""
    housing_related_support = "housing_related_support"
    """Formerly Supporting People."""
    temporary_accommodation = "temporary_accommodation"
    housing_benefit = "housing_benefit"
    """Housing Benefit or Universal Credit housing costs: rent and eligible service charges."""
    young_persons_contribution = "young_persons_contribution"
    youth_offending = "youth_offending"
    health = "health"
    adult_social_care = "adult_social_care"


class PriceBasis(StrEnum):
    per_unit_week = "per_unit_week"
    """Each part of the package is pence per unit per week; a day costs a seventh of it."""
    per_support_hour = "per_support_hour"
    """Floating support paid by the hour of support given: `support` is pence per hour; rent and service charge
    are nil."""


class Package(BaseModel):
    """A revenue package: what a unit costs, in its parts (pence, per the contract's basis)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rent: int = Field(0, ge=0, le=10_000_000, description="Pence per unit per week")
    service_charge: int = Field(0, ge=0, le=10_000_000, description="Pence per unit per week")
    support: int = Field(0, ge=0, le=10_000_000, description="Pence per unit per week, or per support hour")

    @property
    def whole(self) -> int:
        return self.rent + self.service_charge + self.support


class FundingShare(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: FundingStream
    share: int = Field(gt=0, le=ALL, description="Basis points of the package this stream pays (10,000 = all)")


class PaymentByResults(BaseModel):
    """A share of the support part held back until the outcomes service reports `outcome` achieved at the
    episode's departure [003 4.5]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    share: int = Field(gt=0, le=ALL, description="Basis points of the support part held back")
    outcome: Outcome


def check_shares(shares: list[FundingShare]) -> list[FundingShare]:
    if not shares:
        raise ValueError("needs at least one funding stream")
    if len({share.stream for share in shares}) != len(shares):
        raise ValueError("names a funding stream more than once")
    if (total := sum(share.share for share in shares)) != ALL:
        raise ValueError(f"funding shares sum to {total / 100:g}%, not 100%")
    return shares


class FinanceEvent(Event):
    service = "finance"


class ContractAgreed(FinanceEvent):
    """A contract with a provider for one or more schemes, from a day (until a day, or open-ended)."""

    event_type: Literal["ContractAgreed"] = "ContractAgreed"
    contract_id: UUID
    provider_id: UUID
    name: str = Field(min_length=1, max_length=200)
    procurement: Procurement
    service_type: ServiceType
    scheme_ids: list[UUID] = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date | None = None
    contracted_units: int | None = Field(default=None, ge=1, le=100_000,
                                         description="Units a block contract pays for whatever the occupancy")
    basis: PriceBasis = PriceBasis.per_unit_week
    package: Package
    funding: list[FundingShare]
    payment_by_results: PaymentByResults | None = None

    _shares = field_validator("funding")(check_shares)

    @model_validator(mode="after")
    def _consistent(self) -> "ContractAgreed":
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("a contract ends on or after the day it starts")
        if self.procurement.is_block and self.contracted_units is None:
            raise ValueError("a block contract says how many units it pays for (contracted_units)")
        if self.basis is PriceBasis.per_support_hour and (self.package.rent or self.package.service_charge):
            raise ValueError("a contract priced per support hour has support only (no rent or service charge)")
        return self


class SchemeCovered(FinanceEvent):
    """A contract covers the scheme from a day (until a day, or open-ended): recorded on the scheme's cover with the
    ContractAgreed naming the scheme, so no two contracts ever cover a scheme on the same day."""

    event_type: Literal["SchemeCovered"] = "SchemeCovered"
    scheme_id: UUID
    contract_id: UUID
    starts_on: date
    ends_on: date | None = None


class ContractPriceChanged(FinanceEvent):
    """The contract's package from a day on (an uplift, a variation); earlier days keep their price."""

    event_type: Literal["ContractPriceChanged"] = "ContractPriceChanged"
    contract_id: UUID
    effective_from: date
    package: Package


class ContractFundingChanged(FinanceEvent):
    """The contract's funding shares from a day on."""

    event_type: Literal["ContractFundingChanged"] = "ContractFundingChanged"
    contract_id: UUID
    effective_from: date
    funding: list[FundingShare]

    _shares = field_validator("funding")(check_shares)


class BudgetSet(FinanceEvent):
    """A budget for a service type (and, optionally, a client group) in a financial year (April to March)."""

    event_type: Literal["BudgetSet"] = "BudgetSet"
    budget_id: UUID
    financial_year: int = Field(ge=2000, le=2100, description="The year it begins: 2013 for 2013-14")
    service_type: ServiceType
    client_group: Cohort | None = None
    amount: int = Field(ge=0, le=10_000_000_000_00, description="Pence")
    capacity_units: int | None = Field(default=None, ge=0, le=1_000_000)


class IndividualServiceFundAgreed(FinanceEvent):
    """A budget held for one young person, spent against it [003 4.5]."""

    event_type: Literal["IndividualServiceFundAgreed"] = "IndividualServiceFundAgreed"
    fund_id: UUID
    amount: int = Field(gt=0, le=100_000_000, description="Pence")
    stream: FundingStream
    starts_on: date
    ends_on: date


class IndividualServiceFundSpent(FinanceEvent):
    """Money spent from a young person's individual service fund, on a kind of thing (never free text)."""

    event_type: Literal["IndividualServiceFundSpent"] = "IndividualServiceFundSpent"
    fund_id: UUID
    amount: int = Field(gt=0, le=100_000_000, description="Pence")
    spent_on: date
    purpose: Literal["support", "accommodation", "education_or_training", "travel", "household_goods", "other"]


class CostPart(BaseModel):
    """Pence by part of the revenue package, and by funding stream (the two split the same total)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rent: int = 0
    service_charge: int = 0
    support: int = 0
    by_stream: dict[FundingStream, int] = Field(default_factory=dict, description=(
        "Pence per funding stream, summing exactly to rent + service_charge + support: each night's package split "
        "by the contract's funding shares in force that night (so a change of shares mid-month is weighted by "
        "nights), the whole rounded to the penny once and shared by largest remainder, as finance's cost and "
        "spend-by-stream reports split it. Empty when nothing is split: no contract covers the stay (contract_id "
        "None), or support paid by the hour is not costed yet (costed in the month it ends)."))

    @property
    def whole(self) -> int:
        return self.rent + self.service_charge + self.support

    @model_validator(mode="after")
    def _streams_share_the_whole(self) -> "CostPart":
        if self.by_stream and (shared := sum(self.by_stream.values())) != self.whole:
            raise ValueError(f"by_stream sums to {shared} pence, not the cost's {self.whole} "
                             "(rent + service_charge + support)")
        return self


class CostAccrued(FinanceEvent):
    """What a case's stay cost in a calendar month, as far as finance knows at the time: published so the journeys
    service can put a cost on each step, by part of the package and by funding stream (`cost.by_stream`, as finance's
    spend-by-stream report splits it). A later `CostAccrued` for the same stay and month (a price changed back in
    time) replaces it: `aggregate_version` orders them."""

    event_type: Literal["CostAccrued"] = "CostAccrued"
    stay_id: UUID = Field(description="The event_id of the placement event that began the stay in its scheme")
    placement_id: UUID | None = None
    scheme_id: UUID
    contract_id: UUID | None = Field(description="None: no contract covers the stay (unfunded, shown as such): "
                                                 "its cost is 0 and cost.by_stream empty")
    month: date = Field(description="The first day of the month")
    days: int = Field(ge=0, le=31)
    cost: CostPart
    held_back: int = Field(0, ge=0, description="Pence of support held back for payment by results")


EVENTS: list[type[Event]] = [ContractAgreed, SchemeCovered, ContractPriceChanged, ContractFundingChanged, BudgetSet,
                             IndividualServiceFundAgreed, IndividualServiceFundSpent, CostAccrued]
