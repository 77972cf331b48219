"""The district inbox on real PostgreSQL, without NATS: once-only application, kept refusals, giving up."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from services.referral.district_inbox import DistrictInbox
from services.referral.district_inbox.retention import destroy_old_refusals
from shared.contracts.inbound import MessageAccepted, MessageRejected
from tests.unit.builders import a_context

SUBJECT = "casetrack.ingest.preston.referral"


@pytest.fixture
def inbox(referrals_store, schema):
    inbox = DistrictInbox(referrals_store, schema, give_up_after=3)
    inbox.prepare()
    return inbox


def a_referral(ref: str, **overrides) -> bytes:
    return json.dumps({
        "district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-11-02T09:30:00Z",
        "gateway": "hub", "cohort": "care_leaver", "presenting_reason": "leaving_care",
        "young_person": {"given_name": f"Ari{uuid.uuid4().hex[:6]}", "family_name": "Inbox",
                         "date_of_birth": "2006-01-01"},
    } | overrides).encode()


def test_a_message_delivered_again_is_applied_once(inbox, referrals_store):
    first = inbox.receive(SUBJECT, a_referral("PR-7"), sequence=1)
    again = inbox.receive(SUBJECT, a_referral("PR-7"), sequence=1, attempt=2)
    resent = inbox.receive(SUBJECT, a_referral("PR-7", message_id="PR-7-resent"), sequence=2)

    assert isinstance(first.body, MessageAccepted) and not first.body.duplicate
    assert again.body.duplicate and resent.body.duplicate
    assert again.body.case_id == resent.body.case_id == first.body.case_id
    assert referrals_store.position() == 1


def test_a_failure_is_retried_then_kept_as_a_rejection_the_district_can_resend(inbox, referrals_store, monkeypatch,
                                                                               postgres, schema):
    body = a_referral("PR-8")
    monkeypatch.setattr(referrals_store, "record_changes", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))

    with pytest.raises(OSError):
        inbox.receive(SUBJECT, body, sequence=5, attempt=1)
    gave_up = inbox.receive(SUBJECT, body, sequence=5, attempt=3)

    assert isinstance(gave_up.body, MessageRejected)
    assert [r.type for r in gave_up.body.reasons] == ["ProcessingFailed"]
    with psycopg.connect(postgres.url) as conn:
        sealed, wrapped = conn.execute(f"SELECT sealed_body, wrapped_body_key FROM {schema}.rejected_messages"
                                       " WHERE stream_sequence = 5").fetchone()
    assert b"Inbox" not in bytes(sealed)
    assert referrals_store.vault.open_message(bytes(sealed), bytes(wrapped)) == body

    monkeypatch.undo()
    resent = inbox.receive(SUBJECT, body, sequence=6)

    assert isinstance(resent.body, MessageAccepted)
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute(f"SELECT resolved_by_message_id, sealed_body, wrapped_body_key"
                           f" FROM {schema}.rejected_messages WHERE stream_sequence = 5").fetchone()
    assert row == ("PR-8-1", None, None)  # resolved, and the kept copy shredded


def test_a_refusal_delivered_again_is_kept_once(inbox, postgres, schema):
    first = inbox.receive(SUBJECT, b"not json", sequence=9)
    again = inbox.receive(SUBJECT, b"not json", sequence=9, attempt=2)

    assert first.body.rejection_id == again.body.rejection_id
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.rejected_messages").fetchone()[0] == 1


def test_a_message_id_reused_for_another_message_is_refused_not_taken_for_a_repeat(inbox):
    inbox.receive(SUBJECT, a_referral("PR-20"), sequence=1)

    reused = inbox.receive(SUBJECT, a_referral("PR-21", message_id="PR-20-1"), sequence=2)

    assert isinstance(reused.body, MessageRejected)
    assert [(r.field, r.type) for r in reused.body.reasons] == [("message_id", "MessageIdReused")]


def test_erasing_a_young_person_shreds_the_kept_copies_of_their_refused_messages(inbox, referrals_store, postgres,
                                                                                   schema):
    accepted = inbox.receive(SUBJECT, a_referral("PR-30"), sequence=1)
    update = "casetrack.ingest.preston.closure"
    inbox.receive(update, json.dumps({"district_ref": "PR-30", "message_id": "PR-30-x",
                                      "occurred_at": "2026-11-03T09:00:00Z", "reason": "teleported"}).encode(),
                  sequence=2)
    case = referrals_store.get_case(accepted.body.case_id)

    referrals_store.erase_personal_data(a_context(), case.person_ref)

    with psycopg.connect(postgres.url) as conn:
        kept = conn.execute(f"SELECT sealed_body, wrapped_body_key, reasons FROM {schema}.rejected_messages"
                            " WHERE stream_sequence = 2").fetchone()
    assert kept[0] is None and kept[1] is None and kept[2]  # the reasons stay, the copy is gone


def test_refused_messages_nobody_resolved_lose_their_kept_copy_after_the_retention_period(inbox, referrals_store,
                                                                                          postgres, schema):
    inbox.receive(SUBJECT, a_referral("PR-40", cohort="grown_up"), sequence=1)
    inbox.receive(SUBJECT, a_referral("PR-41", cohort="grown_up"), sequence=2)
    with psycopg.connect(postgres.url) as conn:
        conn.execute(f"UPDATE {schema}.rejected_messages SET received_at = now() - interval '31 days'"
                     " WHERE stream_sequence = 1")

    destroyed = destroy_old_refusals(referrals_store, schema, retention_days=30)

    with psycopg.connect(postgres.url) as conn:
        kept = dict(conn.execute(f"SELECT stream_sequence, sealed_body IS NOT NULL FROM {schema}.rejected_messages"
                                 ).fetchall())
    assert destroyed == 1 and kept == {1: False, 2: True}


def test_a_database_outage_is_retried_without_limit_never_turned_into_a_rejection(inbox, referrals_store,
                                                                                   monkeypatch):
    from eventsourcing.persistence import OperationalError

    def database_away(*args, **kwargs):
        raise OperationalError("the database is restarting")

    monkeypatch.setattr(referrals_store, "record_changes", database_away)

    with pytest.raises(OperationalError):
        inbox.receive(SUBJECT, a_referral("PR-50"), sequence=1, attempt=100)


def test_a_message_too_deep_to_decode_is_answered_as_a_rejection_on_its_first_delivery(inbox):
    nested = b"[" * 1000 + b"]" * 1000

    answer = inbox.receive(SUBJECT, nested, sequence=11)

    assert isinstance(answer.body, MessageRejected)
    assert [r.type for r in answer.body.reasons] == ["NotJson"]
