"""The finance service's domain: contracts and their prices and funding, each scheme's cover, budgets and
individual service funds.

Pure: imports only the aggregate base, the event contracts and the error kinds in `shared/`. One module per
aggregate (`contract`, `scheme_cover`, `budget`, `fund`), each with its errors at the bottom; `errors` holds the
kinds of finance error and those the aggregates share; `base` what they share.
"""

from .base import FinanceAggregate, check_dated, check_district, check_funding, day_of
from .budget import BUDGET_NAMESPACE, Budget, Setting, budget_id_for, financial_year_of
from .contract import (
    BlockContractWithoutUnits,
    BlockPricedPerHour,
    Contract,
    ContractEndsBeforeItStarts,
    DatedFunding,
    DatedPackage,
    FundingAfterContract,
    FundingBeforeContract,
    PriceAfterContract,
    PriceBeforeContract,
    SchemeNamedTwice,
    SupportHourPriceWithRent,
    check_basis,
    check_terms,
)
from .errors import (
    DistrictNotInForce,
    EventDatedInTheFuture,
    FinanceConflict,
    FinanceRefused,
    FundingSharesNotWhole,
    UnknownContract,
    UnknownDistrict,
    UnknownFund,
)
from .fund import FundEndsBeforeItStarts, FundOverspent, IndividualServiceFund, Spending, SpendingOutsideFund
from .scheme_cover import (
    SCHEME_COVER_NAMESPACE,
    Cover,
    OverlappingContract,
    SchemeCover,
    SchemeCovered,
    scheme_cover_id,
)
from .stay_cost import StayMonthCost, stay_cost_id

KINDS: tuple[type[FinanceAggregate], ...] = (Contract, SchemeCover, Budget, IndividualServiceFund, StayMonthCost)
"""Every kind of aggregate the finance store holds, each known by the event that creates it."""

__all__ = [
    "StayMonthCost", "stay_cost_id",
    "BUDGET_NAMESPACE", "KINDS", "SCHEME_COVER_NAMESPACE", "BlockContractWithoutUnits", "BlockPricedPerHour",
    "Budget", "Contract",
    "ContractEndsBeforeItStarts", "Cover", "DatedFunding", "DatedPackage", "DistrictNotInForce",
    "EventDatedInTheFuture", "FinanceAggregate", "FinanceConflict", "FinanceRefused", "FundEndsBeforeItStarts",
    "FundOverspent", "FundingAfterContract", "FundingBeforeContract", "FundingSharesNotWhole",
    "IndividualServiceFund", "OverlappingContract", "PriceAfterContract", "PriceBeforeContract", "SchemeCover",
    "SchemeCovered", "SchemeNamedTwice", "Setting", "Spending", "SpendingOutsideFund", "SupportHourPriceWithRent",
    "UnknownContract", "UnknownDistrict", "UnknownFund", "budget_id_for", "check_basis", "check_dated",
    "check_district", "check_funding", "check_terms", "day_of", "financial_year_of", "scheme_cover_id",
]
