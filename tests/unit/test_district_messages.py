"""Reading a district message: every reason at once, and never the values sent."""

import json

import pytest

from services.referral.district_inbox.reading import MessageRefused, read
from shared.contracts.inbound import ReferralReceived


def a_referral_body(**overrides) -> dict:
    return {
        "district_ref": "PR-1", "message_id": "PR-1-a", "occurred_at": "2026-11-02T09:30:00Z",
        "gateway": "hub", "cohort": "care_leaver", "presenting_reason": "leaving_care",
        "young_person": {"given_name": "Jordan", "family_name": "Secretname", "date_of_birth": "2006-01-01",
                         "phone": "07700 900111"},
    } | overrides


def reasons_of(subject: str, body: bytes, headers: dict | None = None) -> list[tuple]:
    with pytest.raises(MessageRefused) as refusal:
        read(subject, body, headers)
    return [(r.field, r.type) for r in refusal.value.reasons]


def test_a_valid_referral_is_read_as_its_kind():
    message = read("casetrack.ingest.preston.referral", json.dumps(a_referral_body()).encode())

    assert isinstance(message, ReferralReceived) and message.district_ref == "PR-1"


def test_every_field_error_is_a_reason_and_none_repeats_the_value_sent():
    body = a_referral_body(cohort="grown_up", occurred_at="2026-11-02T09:30:00", district_ref="bad ref!",
                           young_person={"given_name": "Jordan", "family_name": "Secretname",
                                         "date_of_birth": "Secretname", "phone": "07700 900111"})

    with pytest.raises(MessageRefused) as refusal:
        read("casetrack.ingest.preston.referral", json.dumps(body).encode())

    assert {(r.field, r.type) for r in refusal.value.reasons} == {
        ("cohort", "enum"), ("occurred_at", "timezone_aware"), ("district_ref", "string_pattern_mismatch"),
        ("young_person.date_of_birth", "date_from_datetime_parsing")}
    text = json.dumps([r.model_dump() for r in refusal.value.reasons])
    assert "Secretname" not in text and "07700" not in text and "grown_up" not in text


@pytest.mark.parametrize(("subject", "body", "expected"), [
    ("casetrack.ingest.atlantis.referral", json.dumps(a_referral_body()).encode(), [(None, "UnknownDistrict")]),
    ("casetrack.ingest.preston.teleport", b"{}", [(None, "UnknownKind")]),
    ("casetrack.ingest.preston", b"{}", [(None, "BadSubject")]),
    ("casetrack.ingest.preston.referral", b"\xff\xfe", [(None, "NotJson")]),
    ("casetrack.ingest.atlantis.teleport", b"nope", [(None, "UnknownDistrict"), (None, "UnknownKind"),
                                                    (None, "NotJson")]),
], ids=["unknown district", "unknown kind", "bad subject", "not json", "everything at once"])
def test_a_message_that_cannot_be_read_is_refused_with_its_reasons(subject, body, expected):
    assert reasons_of(subject, body) == expected


def test_a_message_nested_too_deep_for_the_decoder_is_refused_as_not_json():
    nested = b"[" * 1000 + b"]" * 1000  # 2 KB: the standard decoder raises RecursionError on it

    assert reasons_of("casetrack.ingest.preston.referral", nested)[-1][1] == "NotJson"
