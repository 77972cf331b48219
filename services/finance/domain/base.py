"""What the finance aggregates share: knowing their own kind, the facts of an event about no young person, and
the checks of a new fact's date and district."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from shared.aggregate import Aggregate
from shared.contracts import Event
from shared.contracts.finance import NO_CASE, FundingShare, check_shares
from shared.contracts.vocabulary import DistrictNotInForce as NotInForce
from shared.contracts.vocabulary import UnknownDistrict as NotADistrict
from shared.contracts.vocabulary import district_in_force

from .errors import DistrictNotInForce, EventDatedInTheFuture, FundingSharesNotWhole, UnknownDistrict


class FinanceAggregate(Aggregate):
    """An aggregate that knows the event creating it, so a history loaded by id is recognised as its kind."""

    created_by: ClassVar[type[Event]]


def day_of(moment: datetime) -> date:
    """Days are UTC dates, as the placement service's nights are."""
    return moment.astimezone(UTC).date()


def check_dated(occurred_at: datetime, now: datetime, field: str = "occurred_at") -> None:
    if occurred_at > now:
        raise EventDatedInTheFuture(f"{occurred_at.isoformat()} is after now", field=field)


def check_district(code: str, occurred_at: datetime) -> str:
    """`code` if the register knows it and it is in force on the day of the new fact."""
    try:
        return district_in_force(code, day_of(occurred_at))
    except NotADistrict as error:
        raise UnknownDistrict(str(error), field="district") from None
    except NotInForce as error:
        raise DistrictNotInForce(str(error), field="district") from None


def check_funding(funding: Sequence[FundingShare], field: str = "funding") -> list[FundingShare]:
    """The shares as a list, or FundingSharesNotWhole saying what is wrong (the contract's own check)."""
    try:
        return check_shares(list(funding))
    except ValueError as error:
        said = str(error)
        raise FundingSharesNotWhole(said if said.startswith("funding") else f"the funding {said}", field=field) \
            from None


def about_no_one(district: str) -> dict[str, Any]:
    """The envelope of an event about no young person: a contract, a scheme's cover, a budget."""
    return {"case_id": NO_CASE, "person_ref": NO_CASE, "district": district}
