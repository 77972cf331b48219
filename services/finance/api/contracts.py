"""Commissioners agree contracts for schemes, change their prices and funding from a day on, and read them.

Reads come from the store itself (the contract's events), so a write is seen at once."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.finance import handlers
from services.finance.domain import Contract

from .deps import Context, FinanceReader, FinanceWriter, Runtime, Store, Today
from .schemas import (
    ContractSummary,
    ContractView,
    ContractWritten,
    FundingEntry,
    NewContract,
    NewFunding,
    NewPrice,
    PriceEntry,
)

router = APIRouter(tags=["contracts"])


@router.post("/contracts", status_code=201)
def agree_contract(body: NewContract, store: Store, runtime: Runtime, context: Context,
                   _caller: FinanceWriter) -> ContractWritten:
    """Agree a contract (ContractAgreed) and cover each of its schemes with it. 409 OverlappingContract (naming
    the other contract) if another contract covers one of its schemes on any of its days; 422 for funding shares
    not summing to 100%, a negative price, dates the wrong way round, a block contract without its units."""
    written = handlers.agree_contract(store, context, handlers.AgreeContract(**dict(body)))
    return ContractWritten(contract_id=written.id, position=runtime.saved(written.position))


@router.post("/contracts/{contract_id}/prices", status_code=201)
def change_price(contract_id: UUID, body: NewPrice, store: Store, runtime: Runtime, context: Context,
                 _caller: FinanceWriter) -> ContractWritten:
    """The contract's package from a day on (ContractPriceChanged); earlier days keep theirs. 404 for an unknown
    contract; 422 for a day before the contract starts (PriceBeforeContract) or after it ends
    (PriceAfterContract), or a negative price."""
    written = handlers.change_contract_price(store, context, handlers.ChangeContractPrice(contract_id=contract_id,
                                                                                          **dict(body)))
    return ContractWritten(contract_id=written.id, position=runtime.saved(written.position))


@router.post("/contracts/{contract_id}/funding", status_code=201)
def change_funding(contract_id: UUID, body: NewFunding, store: Store, runtime: Runtime, context: Context,
                   _caller: FinanceWriter) -> ContractWritten:
    """The contract's funding shares from a day on (ContractFundingChanged). 404 for an unknown contract; 422 for
    shares not summing to 100% or a day outside the contract."""
    written = handlers.change_contract_funding(
        store, context, handlers.ChangeContractFunding(contract_id=contract_id, **dict(body)))
    return ContractWritten(contract_id=written.id, position=runtime.saved(written.position))


@router.get("/contracts")
def list_contracts(
    store: Store, today: Today, _caller: FinanceReader,
    scheme_id: Annotated[UUID | None, Query(description="Only the contracts covering this scheme")] = None,
    provider_id: Annotated[UUID | None, Query(description="Only this provider's contracts")] = None,
    on: Annotated[date | None, Query(description="The day to give each package and funding for; default today")]
    = None,
    in_force: Annotated[bool, Query(description="Only the contracts covering `on`")] = False,
) -> list[ContractSummary]:
    """Contracts in the order agreed, each with its package and funding on a day."""
    day = on or today
    if scheme_id is not None:
        cover = store.scheme_cover(scheme_id)
        contracts = [store.contract(c.contract_id) for c in cover.covers] if cover else []
    else:
        contracts = store.contracts()
    return [ContractSummary(**_summary(contract, day)) for contract in contracts
            if (provider_id is None or contract.agreed.provider_id == provider_id)
            and (not in_force or contract.covers(day))]


@router.get("/contracts/{contract_id}")
def get_contract(contract_id: UUID, store: Store, today: Today, _caller: FinanceReader,
                 on: Annotated[date | None, Query(description="The day to give the package and funding for; "
                                                              "default today")] = None) -> ContractView:
    """A contract, its package and funding on a day, and its price and funding history (nothing edited: each
    change is a new entry from its day on)."""
    contract = store.contract(contract_id)
    return ContractView(
        **_summary(contract, on or today), payment_by_results=contract.agreed.payment_by_results,
        agreed_at=contract.agreed.occurred_at,
        prices=[PriceEntry(effective_from=p.effective_from, package=p.package, whole=p.package.whole,
                           recorded_at=p.occurred_at, event_id=p.event_id) for p in contract.prices],
        funding_history=[FundingEntry(effective_from=f.effective_from, funding=list(f.funding),
                                      recorded_at=f.occurred_at, event_id=f.event_id)
                         for f in contract.funding_history])


def _summary(contract: Contract, day: date) -> dict:
    agreed = contract.agreed
    return {"contract_id": contract.id, "provider_id": agreed.provider_id, "name": agreed.name,
            "procurement": agreed.procurement, "service_type": agreed.service_type, "scheme_ids": agreed.scheme_ids,
            "starts_on": agreed.starts_on, "ends_on": agreed.ends_on, "contracted_units": agreed.contracted_units,
            "basis": agreed.basis, "district": agreed.district, "on": day, "package": contract.package_on(day),
            "funding": contract.funding_on(day)}
