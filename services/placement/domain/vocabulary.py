"""Which values of the placement vocabularies a new record may use.

`visiting_floating_support` and `other_or_not_known` stay in the vocabularies for stored events only (their
upcasters read them as `visiting_support` and `not_known`); a new request naming one is refused. A placement's
destination is never `remained_in_own_home`: a placement is the scheme's accommodation, and a young person who
keeps a tenancy that came with support moved on to `social_rented` or `private_rented`.
"""

from __future__ import annotations

from shared.contracts.placement_vocabulary import (
    RETIRED_DESTINATIONS,
    RETIRED_PROVISION_TYPES,
    Destination,
    ProvisionType,
)

from .errors import PlacementRefused


def check_new_provision_type(provision_type: ProvisionType) -> None:
    if ProvisionType(provision_type) in RETIRED_PROVISION_TYPES:
        raise ProvisionTypeNoLongerRecorded(
            f"{ProvisionType(provision_type).value} is no longer recorded: use visiting_support (accommodation-based "
            f"visiting support) or floating_support (support attached to the person)", field="provision_type")


def check_new_destination(destination: Destination | None, *, floating_support: bool = False) -> None:
    if destination is None:
        return
    destination = Destination(destination)
    if destination in RETIRED_DESTINATIONS:
        raise DestinationNoLongerRecorded(
            f"{destination.value} is no longer recorded: use other (a known destination not listed) or not_known",
            field="destination")
    if destination is Destination.remained_in_own_home and not floating_support:
        raise DestinationOnlyForFloatingSupport(
            "remained_in_own_home ends floating support only: a young person leaving a placement moved somewhere "
            "(a tenancy of their own is social_rented or private_rented)", field="destination")


class ProvisionTypeNoLongerRecorded(PlacementRefused):
    """visiting_floating_support is split into visiting_support and floating_support: new schemes use one of them."""


class DestinationNoLongerRecorded(PlacementRefused):
    """other_or_not_known is split into other and not_known: new departures use one of them."""


class DestinationOnlyForFloatingSupport(PlacementRefused):
    """remained_in_own_home is where a floating support episode ends, never a placement."""
