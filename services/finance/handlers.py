"""One handler per command of the finance service: whatever the door (an HTTP route today), a change is a
command object sent here. Each handler makes one call on the store and returns what was written and its
position; the rules' errors pass through to be mapped once by the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from services.finance.application import Finance
from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.finance import FundingShare, FundingStream, Package, PaymentByResults, PriceBasis, Procurement
from shared.contracts.outcomes import ServiceType
from shared.contracts.vocabulary import Cohort

Purpose = Literal["support", "accommodation", "education_or_training", "travel", "household_goods", "other"]


@dataclass(frozen=True, kw_only=True)
class AgreeContract:
    provider_id: UUID
    name: str
    procurement: Procurement
    service_type: ServiceType
    scheme_ids: list[UUID]
    starts_on: date
    ends_on: date | None = None
    contracted_units: int | None = None
    basis: PriceBasis = PriceBasis.per_unit_week
    package: Package
    funding: list[FundingShare]
    payment_by_results: PaymentByResults | None = None
    district: str
    occurred_at: datetime | None = None
    """None: now."""


@dataclass(frozen=True, kw_only=True)
class ChangeContractPrice:
    contract_id: UUID
    effective_from: date
    package: Package
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeContractFunding:
    contract_id: UUID
    effective_from: date
    funding: list[FundingShare]
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SetBudget:
    financial_year: int
    service_type: ServiceType
    client_group: Cohort | None = None
    amount: int
    capacity_units: int | None = None
    district: str
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AgreeIndividualServiceFund:
    case_id: UUID
    person_ref: UUID
    district: str
    amount: int
    stream: FundingStream
    starts_on: date
    ends_on: date
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SpendFromIndividualServiceFund:
    fund_id: UUID
    amount: int
    spent_on: date
    purpose: Purpose
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Written:
    id: UUID
    position: int


@dataclass(frozen=True)
class Spent(Written):
    balance: int
    """Pence left in the fund after this spending."""


def agree_contract(store: Finance, context: EventContext, command: AgreeContract) -> Written:
    contract, position = store.agree_contract(
        context, provider_id=command.provider_id, name=command.name, procurement=command.procurement,
        service_type=command.service_type, scheme_ids=command.scheme_ids, starts_on=command.starts_on,
        ends_on=command.ends_on, contracted_units=command.contracted_units, basis=command.basis,
        package=command.package, funding=command.funding, payment_by_results=command.payment_by_results,
        district=command.district, occurred_at=command.occurred_at or utc_now())
    return Written(contract.id, position)


def change_contract_price(store: Finance, context: EventContext, command: ChangeContractPrice) -> Written:
    position = store.change_price(context, command.contract_id, effective_from=command.effective_from,
                                  package=command.package, occurred_at=command.occurred_at or utc_now())
    return Written(command.contract_id, position)


def change_contract_funding(store: Finance, context: EventContext, command: ChangeContractFunding) -> Written:
    position = store.change_funding(context, command.contract_id, effective_from=command.effective_from,
                                    funding=command.funding, occurred_at=command.occurred_at or utc_now())
    return Written(command.contract_id, position)


def set_budget(store: Finance, context: EventContext, command: SetBudget) -> Written:
    budget, position = store.set_budget(
        context, financial_year=command.financial_year, service_type=command.service_type,
        client_group=command.client_group, amount=command.amount, capacity_units=command.capacity_units,
        district=command.district, occurred_at=command.occurred_at or utc_now())
    return Written(budget.id, position)


def agree_individual_service_fund(store: Finance, context: EventContext,
                                  command: AgreeIndividualServiceFund) -> Written:
    fund, position = store.agree_fund(
        context, case_id=command.case_id, person_ref=command.person_ref, district=command.district,
        amount=command.amount, stream=command.stream, starts_on=command.starts_on, ends_on=command.ends_on,
        occurred_at=command.occurred_at or utc_now())
    return Written(fund.id, position)


def spend_from_individual_service_fund(store: Finance, context: EventContext,
                                       command: SpendFromIndividualServiceFund) -> Spent:
    fund, position = store.spend(context, command.fund_id, amount=command.amount, spent_on=command.spent_on,
                                 purpose=command.purpose, occurred_at=command.occurred_at or utc_now())
    return Spent(fund.id, position, fund.balance)
