"""Finance: the finance service's event-sourced application (contracts and each scheme's cover, budgets and
individual service funds, in one store)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Self, TypeVar
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from services.finance.domain import (
    KINDS,
    Budget,
    Contract,
    FinanceAggregate,
    FinanceConflict,
    IndividualServiceFund,
    SchemeCover,
    StayMonthCost,
    UnknownContract,
    UnknownFund,
    budget_id_for,
    scheme_cover_id,
    stay_cost_id,
)
from shared.contracts import Event, EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.finance import FundingShare, FundingStream, Package, PaymentByResults, PriceBasis, Procurement
from shared.contracts.outcomes import ServiceType
from shared.contracts.vocabulary import Cohort
from shared.eventstore import ServiceApplication

A = TypeVar("A", bound=FinanceAggregate)
T = TypeVar("T")
PAGE = 1_000


class AnyFinanceAggregate(FinanceAggregate):
    """Loads a history as the kind of aggregate its first event creates (what `Finance.load` gives)."""

    @classmethod
    def from_history(cls, events: Iterable[Event]) -> Self | None:
        history = list(events)
        if not history:
            return None
        kind = next((kind for kind in KINDS if isinstance(history[0], kind.created_by)), None)
        if kind is None:
            raise TypeError(f"no finance aggregate begins with {history[0].event_type}")
        return kind.from_history(history)  # type: ignore[return-value]


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def moment_after(day: date) -> datetime:
    """The end of a day: when a month's cost to that day has accrued."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


class Finance(ServiceApplication):
    """Records contracts with their prices and funding, which contract covers each scheme, budgets and
    individual service funds."""

    aggregate_class = AnyFinanceAggregate
    ATTEMPTS = 10
    """How often a change is decided again after other requests changed the same contract, scheme cover, budget
    or fund first (each refusal by the store means another change was saved, so deciding again makes progress)."""

    # -- contracts ------------------------------------------------------------------------------------

    def agree_contract(self, context: EventContext, *, provider_id: UUID, name: str, procurement: Procurement,
                       service_type: ServiceType, scheme_ids: Sequence[UUID], starts_on: date, ends_on: date | None,
                       contracted_units: int | None, basis: PriceBasis, package: Package,
                       funding: Sequence[FundingShare], payment_by_results: PaymentByResults | None, district: str,
                       occurred_at: datetime, contract_id: UUID | None = None) -> tuple[Contract, int]:
        """Agree a contract and cover each of its schemes with it, saved together (or OverlappingContract)."""
        contract_id = contract_id or uuid4()

        def attempt() -> tuple[Contract, int]:
            contract = Contract.agree(
                contract_id, provider_id=provider_id, name=name, procurement=procurement, service_type=service_type,
                scheme_ids=scheme_ids, starts_on=starts_on, ends_on=ends_on, contracted_units=contracted_units,
                basis=basis, package=package, funding=funding, payment_by_results=payment_by_results,
                district=district, occurred_at=occurred_at, now=utc_now())
            covers = [self.scheme_cover(scheme_id) or SchemeCover.of(scheme_id) for scheme_id in scheme_ids]
            for cover in covers:
                cover.cover(contract)
            return contract, self.record(context, contract, *covers)
        return self._deciding_again_on_conflict(attempt)

    def change_price(self, context: EventContext, contract_id: UUID, *, effective_from: date, package: Package,
                     occurred_at: datetime) -> int:
        def attempt() -> int:
            contract = self.contract(contract_id)
            contract.change_price(effective_from=effective_from, package=package, occurred_at=occurred_at,
                                  now=utc_now())
            return self.record(context, contract)
        return self._deciding_again_on_conflict(attempt)

    def change_funding(self, context: EventContext, contract_id: UUID, *, effective_from: date,
                       funding: Sequence[FundingShare], occurred_at: datetime) -> int:
        def attempt() -> int:
            contract = self.contract(contract_id)
            contract.change_funding(effective_from=effective_from, funding=funding, occurred_at=occurred_at,
                                    now=utc_now())
            return self.record(context, contract)
        return self._deciding_again_on_conflict(attempt)

    def contract(self, contract_id: UUID) -> Contract:
        contract = self._load(Contract, contract_id)
        if contract is None:
            raise UnknownContract(f"no contract {contract_id}")
        return contract

    def scheme_cover(self, scheme_id: UUID) -> SchemeCover | None:
        """Which contracts cover the scheme over which days; None if none ever has."""
        return self._load(SchemeCover, scheme_cover_id(scheme_id))

    def contracts(self) -> list[Contract]:
        """Every contract, in the order agreed. Reads the store's log of ContractAgreed events (the read models
        the finance service keeps answer the questions asked often)."""
        ids: list[UUID] = []
        start = 1
        while batch := self.recorder.select_notifications(start, PAGE, topics=["ContractAgreed"]):
            ids.extend(notification.originator_id for notification in batch)
            start = batch[-1].id + 1
        return [self.contract(contract_id) for contract_id in ids]

    # -- budgets --------------------------------------------------------------------------------------

    def set_budget(self, context: EventContext, *, financial_year: int, service_type: ServiceType,
                   client_group: Cohort | None, amount: int, capacity_units: int | None, district: str,
                   occurred_at: datetime) -> tuple[Budget, int]:
        """Set the budget of a year, service type and client group, replacing any amount set before."""
        def attempt() -> tuple[Budget, int]:
            budget = (self.budget(financial_year, service_type, client_group)
                      or Budget.of(financial_year, service_type, client_group))
            budget.set(amount=amount, capacity_units=capacity_units, district=district, occurred_at=occurred_at,
                       now=utc_now())
            return budget, self.record(context, budget)
        return self._deciding_again_on_conflict(attempt)

    def budget(self, financial_year: int, service_type: ServiceType, client_group: Cohort | None) -> Budget | None:
        return self._load(Budget, budget_id_for(financial_year, service_type, client_group))

    def budgets(self, financial_year: int) -> list[Budget]:
        """The year's budgets that are set, by service type then client group (the whole service type first)."""
        found = (self.budget(financial_year, service_type, group)
                 for service_type in ServiceType for group in (None, *Cohort))
        return [budget for budget in found if budget is not None]

    # -- individual service funds ---------------------------------------------------------------------

    def agree_fund(self, context: EventContext, *, case_id: UUID, person_ref: UUID, district: str, amount: int,
                   stream: FundingStream, starts_on: date, ends_on: date,
                   occurred_at: datetime) -> tuple[IndividualServiceFund, int]:
        fund = IndividualServiceFund.agree(uuid4(), case_id=case_id, person_ref=person_ref, district=district,
                                           amount=amount, stream=stream, starts_on=starts_on, ends_on=ends_on,
                                           occurred_at=occurred_at, now=utc_now())
        return fund, self.record(context, fund)

    def spend(self, context: EventContext, fund_id: UUID, *, amount: int, spent_on: date, purpose: str,
              occurred_at: datetime) -> tuple[IndividualServiceFund, int]:
        """Spend from a fund: two spends at the same moment are decided one after the other, so neither
        overspends it."""
        def attempt() -> tuple[IndividualServiceFund, int]:
            fund = self.fund(fund_id)
            fund.spend(amount=amount, spent_on=spent_on, purpose=purpose, occurred_at=occurred_at, now=utc_now())
            return fund, self.record(context, fund)
        return self._deciding_again_on_conflict(attempt)

    def fund(self, fund_id: UUID) -> IndividualServiceFund:
        fund = self._load(IndividualServiceFund, fund_id)
        if fund is None:
            raise UnknownFund(f"no individual service fund {fund_id}")
        return fund

    # -- the store ------------------------------------------------------------------------------------

    # -- the cost run ----------------------------------------------------------------------------------

    def publish_costs(self, context: EventContext, months: Sequence, through: date,
                      batch: int = 500) -> tuple[int, int]:
        """Record a CostAccrued for each stay-month whose cost is new or changed (see cost_run.py), `batch` aggregates
        a save; (events recorded, the last position)."""
        recorded, position = 0, self.position()
        changed: list[StayMonthCost] = []
        for month in months:
            accrual = month.first
            def attempt(month=month, accrual=accrual) -> StayMonthCost | None:
                cost = self._load(StayMonthCost, stay_cost_id(accrual.stay_id, accrual.month)) \
                    or StayMonthCost.new(accrual.stay_id, accrual.month)
                last_day = min(_month_end(accrual.month), through)
                moved = cost.accrue(case_id=accrual.case_id, person_ref=accrual.person_ref, district=accrual.district,
                                    stay_id=accrual.stay_id, placement_id=accrual.placement_id,
                                    scheme_id=accrual.scheme_id, contract_id=month.contract_id, month=accrual.month,
                                    days=month.days, cost=month.cost, held_back=month.held_back,
                                    occurred_at=min(moment_after(last_day), utc_now()))
                return cost if moved else None
            if (cost := attempt()) is not None:
                changed.append(cost)
            if len(changed) >= batch:
                position = self.record(context, *changed)
                recorded, changed = recorded + len(changed), []
        if changed:
            position = self.record(context, *changed)
            recorded += len(changed)
        return recorded, position

    def _load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate of this kind with this id, or None (none, or another kind's)."""
        events = list(self.events.get(aggregate_id))
        if not events or not isinstance(events[0], kind.created_by):
            return None
        return kind.from_history(events)

    def _deciding_again_on_conflict(self, attempt: Callable[[], T]) -> T:
        """Run a change; if another request saved a change to the same aggregate first (the store refuses the
        second version of an aggregate), decide again on what that request saved."""
        for _ in range(self.ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise ChangedConcurrently(f"the change was overtaken by others {self.ATTEMPTS} times; try again")


class ChangedConcurrently(FinanceConflict):
    """Other requests kept changing the same contract, scheme cover, budget or fund first."""
