"""The kinds of error every finance rule raises, and the errors the aggregates share.

Each derives from a kind in `shared.errors` (refused 422, conflict 409, not found 404), which the service's app
maps to HTTP once; the errors of one aggregate sit at the bottom of its module.
"""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict, NotFound, Refused


class FinanceRefused(Refused):
    """The request breaks one of the finance rules, whatever the state of things (HTTP 422)."""

    def reasons(self) -> list[dict[str, Any]]:
        """As FastAPI's validation errors always do, name where in the request: a field, or the body."""
        return [{"loc": ["body"]} | reason for reason in super().reasons()]


class FinanceConflict(Conflict):
    """The change does not fit the contracts, budgets or funds as they stand (HTTP 409)."""


class EventDatedInTheFuture(FinanceRefused):
    """Something cannot be recorded as having happened after now."""


class UnknownDistrict(FinanceRefused):
    """The district code is not one of casetrack's district housing authorities."""


class DistrictNotInForce(FinanceRefused):
    """The district had ended (or not yet begun) on the day: name the district in force then."""


class FundingSharesNotWhole(FinanceRefused):
    """A contract's funding streams are each named once and their shares sum to 100% (10,000 basis points)."""


class UnknownContract(NotFound):
    """No contract has this id."""


class UnknownFund(NotFound):
    """No individual service fund has this id."""
