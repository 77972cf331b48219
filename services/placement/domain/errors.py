"""The kinds of error every placement rule raises, and the errors shared by the aggregates.

Each derives from a kind in `shared.errors` (refused 422, conflict 409, not found 404), which the service's
app maps to HTTP once; the errors of one aggregate sit at the bottom of its module.
"""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict, Refused


class PlacementRefused(Refused):
    """The request breaks one of the placement rules, whatever the state of things (HTTP 422)."""

    def reasons(self) -> list[dict[str, Any]]:
        """As FastAPI's validation errors always do, name where in the request: a field, or the body."""
        return [{"loc": ["body"]} | reason for reason in super().reasons()]


class PlacementConflict(Conflict):
    """The change does not fit the current state of a case, scheme or placement (HTTP 409)."""


class EventDatedInTheFuture(PlacementRefused):
    """Something cannot be recorded as having happened after now."""


class UnknownDistrict(PlacementRefused):
    """The district code is not one of casetrack's district housing authorities."""


class DistrictNotInForce(PlacementRefused):
    """The district had ended (or not yet begun) on the day: register with the district in force then."""
