"""Every event type casetrack publishes, by name: the public contract between services.

`parse_event` turns stored or published JSON back into its model, upcasting old schema versions.
"""

from collections.abc import Callable
from typing import Any

from pydantic_core import from_json

from shared.contracts import finance, outcomes, placement, referral
from shared.contracts.envelope import Event, EventContext
from shared.contracts.referral import ReferralMade

EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["event_type"].default: cls
    for cls in (*referral.EVENTS, *placement.EVENTS, *outcomes.EVENTS, *finance.EVENTS)
}
"""Each contract module lists its event types in EVENTS; a new module is added here."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {**referral.UPCASTERS, **getattr(placement, "UPCASTERS", {})}
"""(event_type, schema_version) -> function that lifts a payload to schema_version + 1; each contract module
keeps its own in UPCASTERS."""


class UnknownEventType(ValueError):
    """The message names an event type this version of casetrack does not know."""


def parse_event(data: bytes | str | dict[str, Any]) -> Event:
    payload = from_json(data) if isinstance(data, (bytes, str)) else dict(data)
    if not isinstance(payload, dict):
        raise ValueError(f"an event is a JSON object, not {type(payload).__name__}")
    event_type = payload.get("event_type")
    model = EVENT_TYPES.get(event_type)  # type: ignore[arg-type]
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    current = model.model_fields["schema_version"].default
    while (version := payload.get("schema_version", 1)) != current:
        upcast = UPCASTERS.get((event_type, version)) if version < current else None
        if upcast is None:
            raise UnknownEventType(
                f"{event_type} schema version {version} cannot be read (this casetrack reads {current})")
        payload = upcast(payload)
        if payload.get("schema_version", 1) <= version:
            raise UnknownEventType(f"the upcaster of {event_type} v{version} did not raise schema_version")
    return model.model_validate(payload)


__all__ = ["EVENT_TYPES", "Event", "EventContext", "ReferralMade", "UnknownEventType", "parse_event"]
