"""What the finance routes take and give: request bodies (validated before any rule runs) and responses. Money
is integer pence; funding shares are basis points (10,000 = 100%)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.finance.domain import check_terms
from services.finance.handlers import Purpose
from shared.contracts.envelope import Day, Moment
from shared.contracts.finance import (
    FundingShare,
    FundingStream,
    Package,
    PaymentByResults,
    PriceBasis,
    Procurement,
    check_shares,
)
from shared.contracts.outcomes import ServiceType
from shared.contracts.vocabulary import Cohort

DISTRICT = Field(min_length=1, max_length=60, description="The commissioning council's district code, e.g. preston")
OCCURRED_AT = Field(default=None, description="When it was agreed; default now")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Funding = list[FundingShare]


class NewContract(Body):
    """A contract with a provider for one or more schemes, from a day (until a day, or open-ended)."""

    provider_id: UUID
    name: str = Field(min_length=1, max_length=200)
    procurement: Procurement
    service_type: ServiceType
    scheme_ids: list[UUID] = Field(min_length=1, max_length=200)
    starts_on: Day
    ends_on: Day | None = Field(default=None, description="The last day it covers; none: open-ended")
    contracted_units: int | None = Field(default=None, ge=1, le=100_000,
                                         description="Units a block contract pays for whatever the occupancy")
    basis: PriceBasis = PriceBasis.per_unit_week
    package: Package = Field(description="The revenue package, pence per unit per week (support: or per hour)")
    funding: Funding = Field(description="Who pays what share: basis points summing to 10,000 (100%)")
    payment_by_results: PaymentByResults | None = None
    district: str = DISTRICT
    occurred_at: Moment | None = OCCURRED_AT

    _shares = field_validator("funding")(check_shares)

    @model_validator(mode="after")
    def _terms(self) -> NewContract:
        check_terms(procurement=self.procurement, scheme_ids=self.scheme_ids, starts_on=self.starts_on,
                    ends_on=self.ends_on, contracted_units=self.contracted_units, basis=self.basis,
                    package=self.package)
        return self


class NewPrice(Body):
    """The contract's package from a day on (an uplift, a variation); earlier days keep their price."""

    effective_from: Day
    package: Package
    occurred_at: Moment | None = OCCURRED_AT


class NewFunding(Body):
    """The contract's funding shares from a day on."""

    effective_from: Day
    funding: Funding = Field(description="Basis points summing to 10,000 (100%)")
    occurred_at: Moment | None = OCCURRED_AT

    _shares = field_validator("funding")(check_shares)


class NewBudget(Body):
    """A budget for a service type (and optionally a client group) in a financial year: replaces any set before."""

    financial_year: int = Field(ge=2000, le=2100, description="The year it begins: 2013 for 2013-14")
    service_type: ServiceType
    client_group: Cohort | None = Field(default=None, description="None: the whole service type")
    amount: int = Field(ge=0, le=10_000_000_000_00, description="Pence")
    capacity_units: int | None = Field(default=None, ge=0, le=1_000_000)
    district: str = DISTRICT
    occurred_at: Moment | None = Field(default=None, description="When it was set; default now")


class NewFund(Body):
    """An individual service fund for a young person's case. The case and person_ref are taken as given (the
    finance service keeps no directory of cases yet)."""

    case_id: UUID
    person_ref: UUID
    district: str = Field(min_length=1, max_length=60, description="The case's district")
    amount: int = Field(gt=0, le=100_000_000, description="Pence")
    stream: FundingStream
    starts_on: Day
    ends_on: Day
    occurred_at: Moment | None = OCCURRED_AT


class NewSpending(Body):
    """Money spent from the fund, on a kind of thing (never free text)."""

    amount: int = Field(gt=0, le=100_000_000, description="Pence")
    spent_on: Day
    purpose: Purpose
    occurred_at: Moment | None = Field(default=None, description="When it was recorded; default now")


# -- what writes answer -------------------------------------------------------------------------------

POSITION = Field(description="Pass as ?after= to a read of the finance read models to see this write")


class ContractWritten(BaseModel):
    contract_id: UUID
    position: str = POSITION


class BudgetWritten(BaseModel):
    budget_id: UUID
    position: str = POSITION


class FundWritten(BaseModel):
    fund_id: UUID
    position: str = POSITION


class SpendingWritten(FundWritten):
    balance: int = Field(description="Pence left in the fund")


# -- what reads answer --------------------------------------------------------------------------------


class PriceEntry(BaseModel):
    effective_from: date
    package: Package
    whole: int = Field(description="Rent, service charge and support together")
    recorded_at: datetime = Field(description="When it was agreed (the event's occurred_at)")
    event_id: UUID


class FundingEntry(BaseModel):
    effective_from: date
    funding: list[FundingShare]
    recorded_at: datetime
    event_id: UUID


class ContractSummary(BaseModel):
    contract_id: UUID
    provider_id: UUID
    name: str
    procurement: Procurement
    service_type: ServiceType
    scheme_ids: list[UUID]
    starts_on: date
    ends_on: date | None
    contracted_units: int | None
    basis: PriceBasis
    district: str
    on: date = Field(description="The day package and funding are given for")
    package: Package | None = Field(description="In force on `on`; none outside the contract")
    funding: list[FundingShare] | None


class ContractView(ContractSummary):
    payment_by_results: PaymentByResults | None
    agreed_at: datetime
    prices: list[PriceEntry] = Field(description="As agreed, then every change, in the order recorded")
    funding_history: list[FundingEntry]


class BudgetSetting(BaseModel):
    amount: int
    capacity_units: int | None
    district: str
    set_at: datetime
    event_id: UUID


class BudgetView(BaseModel):
    budget_id: UUID
    financial_year: int
    service_type: ServiceType
    client_group: Cohort | None
    amount: int = Field(description="Pence: the last set")
    capacity_units: int | None
    district: str
    set_at: datetime
    history: list[BudgetSetting] = Field(description="Every time it was set, the first first")


class SpendingEntry(BaseModel):
    amount: int
    spent_on: date
    purpose: str
    recorded_at: datetime
    event_id: UUID


class FundView(BaseModel):
    fund_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str
    amount: int
    stream: FundingStream
    starts_on: date
    ends_on: date
    spent: int
    balance: int = Field(description="Pence left to spend")
    spending: list[SpendingEntry]
