"""Events recorded by the placement service: schemes, units and every placement along the pathway."""

from shared.contracts.envelope import Event


class PlacementEvent(Event):
    service = "placement"


EVENTS: list[type[Event]] = []
