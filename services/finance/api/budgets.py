"""Finance officers set the budget of each service type (and client group) for a financial year, and read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.finance import handlers
from services.finance.domain import Budget

from .deps import Context, FinanceReader, FinanceWriter, Runtime, Store
from .schemas import BudgetSetting, BudgetView, BudgetWritten, NewBudget

router = APIRouter(tags=["budgets"])


@router.post("/budgets", status_code=201)
def set_budget(body: NewBudget, store: Store, runtime: Runtime, context: Context,
               _caller: FinanceWriter) -> BudgetWritten:
    """Set a budget (BudgetSet). One per financial year, service type and client group: setting it again records a
    new BudgetSet replacing the amount (the earlier stay in its history)."""
    written = handlers.set_budget(store, context, handlers.SetBudget(**dict(body)))
    return BudgetWritten(budget_id=written.id, position=runtime.saved(written.position))


@router.get("/budgets")
def list_budgets(store: Store, _caller: FinanceReader,
                 financial_year: Annotated[int, Query(ge=2000, le=2100,
                                                      description="The year it begins: 2013 for 2013-14")]
                 ) -> list[BudgetView]:
    """The year's budgets, by service type then client group (the whole service type first)."""
    return [_view(budget) for budget in store.budgets(financial_year)]


def _view(budget: Budget) -> BudgetView:
    current = budget.current
    assert budget.service_type is not None  # a budget read from the store has been set
    return BudgetView(
        budget_id=budget.id, financial_year=budget.financial_year, service_type=budget.service_type,
        client_group=budget.client_group, amount=current.amount, capacity_units=current.capacity_units,
        district=current.district, set_at=current.occurred_at,
        history=[BudgetSetting(amount=s.amount, capacity_units=s.capacity_units, district=s.district,
                               set_at=s.occurred_at, event_id=s.event_id) for s in budget.settings])
