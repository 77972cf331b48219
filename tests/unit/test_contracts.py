"""Reading events back from JSON: known types only, no extra fields, old versions upcast."""

import json
from typing import Any, ClassVar, Literal

import pytest
from pydantic import ValidationError

from shared.contracts import EVENT_TYPES, UPCASTERS, Event, UnknownEventType, parse_event

from .builders import a_referral_made, an_envelope


class ThingCounted(Event):
    """A test-only event at schema version 2, where version 1 called `count` `number`."""

    service: ClassVar[str] = "referral"
    event_type: Literal["ThingCounted"] = "ThingCounted"
    schema_version: int = 2
    count: int


def number_renamed_count(payload: dict[str, Any]) -> dict[str, Any]:
    lifted = {key: value for key, value in payload.items() if key != "number"}
    return lifted | {"count": payload["number"], "schema_version": 2}


def as_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, default=str)


def test_an_event_type_casetrack_does_not_know_is_refused():
    with pytest.raises(UnknownEventType, match="ReferralTeleported"):
        parse_event(a_referral_made().model_dump_json().replace("ReferralMade", "ReferralTeleported"))


def test_a_field_the_contract_does_not_define_is_refused():
    payload = a_referral_made().model_dump(mode="json") | {"name": "Jo Bloggs"}

    with pytest.raises(ValidationError, match="name"):
        parse_event(payload)


def test_a_referral_made_reads_back_equal_from_its_json():
    event = a_referral_made()

    assert parse_event(event.model_dump_json()) == event


def test_version_1_json_is_upcast_by_its_registered_upcaster(monkeypatch):
    monkeypatch.setitem(EVENT_TYPES, "ThingCounted", ThingCounted)
    monkeypatch.setitem(UPCASTERS, ("ThingCounted", 1), number_renamed_count)
    version_1 = as_json(an_envelope() | {"event_type": "ThingCounted", "schema_version": 1, "number": 3})

    event = parse_event(version_1)

    assert isinstance(event, ThingCounted)
    assert (event.schema_version, event.count) == (2, 3)


def test_a_schema_version_newer_than_this_casetrack_reads_is_refused():
    newer = json.loads(a_referral_made().model_dump_json()) | {"schema_version": 3}

    with pytest.raises(UnknownEventType, match="schema version 3"):
        parse_event(newer)


def test_an_event_for_a_district_casetrack_does_not_know_is_refused():
    stray = json.loads(a_referral_made().model_dump_json()) | {"district": "preston.>"}

    with pytest.raises(ValidationError, match="unknown district"):
        parse_event(stray)
