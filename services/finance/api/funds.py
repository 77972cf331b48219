"""Individual service funds: money held for one young person, agreed for their case and spent against it."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from services.finance import handlers

from .deps import Context, FinanceReader, FinanceWriter, Runtime, Store
from .schemas import FundView, FundWritten, NewFund, NewSpending, SpendingEntry, SpendingWritten

router = APIRouter(tags=["individual service funds"])


@router.post("/individual-service-funds", status_code=201)
def agree_fund(body: NewFund, store: Store, runtime: Runtime, context: Context,
               _caller: FinanceWriter) -> FundWritten:
    """Agree a fund for a case (IndividualServiceFundAgreed). The case_id and person_ref are recorded as given:
    the finance service keeps no directory of cases yet. 422 for a fund ending before it starts."""
    written = handlers.agree_individual_service_fund(store, context, handlers.AgreeIndividualServiceFund(**dict(body)))
    return FundWritten(fund_id=written.id, position=runtime.saved(written.position))


@router.post("/individual-service-funds/{fund_id}/spending", status_code=201)
def spend(fund_id: UUID, body: NewSpending, store: Store, runtime: Runtime, context: Context,
          _caller: FinanceWriter) -> SpendingWritten:
    """Spend from the fund (IndividualServiceFundSpent). 404 for an unknown fund; 409 FundOverspent for more than
    is left; 422 for a day outside the fund (SpendingOutsideFund) or after today."""
    spent = handlers.spend_from_individual_service_fund(
        store, context, handlers.SpendFromIndividualServiceFund(fund_id=fund_id, **dict(body)))
    return SpendingWritten(fund_id=spent.id, position=runtime.saved(spent.position), balance=spent.balance)


@router.get("/individual-service-funds/{fund_id}")
def get_fund(fund_id: UUID, store: Store, _caller: FinanceReader) -> FundView:
    """A fund, what was spent from it and its balance."""
    fund = store.fund(fund_id)
    agreed = fund.agreed
    return FundView(fund_id=fund.id, case_id=agreed.case_id, person_ref=agreed.person_ref, district=agreed.district,
                    amount=agreed.amount, stream=agreed.stream, starts_on=agreed.starts_on, ends_on=agreed.ends_on,
                    spent=fund.spent, balance=fund.balance,
                    spending=[SpendingEntry(amount=s.amount, spent_on=s.spent_on, purpose=s.purpose,
                                            recorded_at=s.occurred_at, event_id=s.event_id) for s in fund.spending])
