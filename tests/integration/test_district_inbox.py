"""The district inbox on real PostgreSQL, without NATS: once-only application, kept refusals, giving up."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from services.referral.district_inbox import Arrival, DistrictInbox
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


def test_a_refused_messages_invalid_identifiers_are_neither_kept_nor_answered_nor_listed(inbox, postgres, schema):
    slipped = "Zephyrine Quillfeather 1990-02-03"  # a name typed into the reference box
    body = a_referral("PR-50", district_ref=slipped, message_id=f"{slipped}!", cohort="grown_up")

    refused = inbox.receive(SUBJECT, body, sequence=3)

    assert isinstance(refused.body, MessageRejected)
    assert (refused.body.district_ref, refused.body.message_id) == (None, None)
    assert slipped not in refused.body.model_dump_json()
    listed = inbox.records.rejected_messages("preston", unresolved_only=False)
    assert listed and slipped not in json.dumps(listed, default=str)
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute(f"SELECT t::text FROM {schema}.rejected_messages t").fetchone()[0]
    assert "Zephyrine" not in row and "Quillfeather" not in row


def test_erasing_a_young_person_reaches_a_refused_referral_naming_them_which_has_no_case(
        inbox, referrals_store, postgres, schema):
    accepted = inbox.receive(SUBJECT, a_referral("PR-60"), sequence=1)
    person = json.loads(a_referral("PR-60"))["young_person"] | {"given_name": _name_of(referrals_store, accepted)}
    inbox.receive(SUBJECT, a_referral("PR-61 bad", young_person=person, cohort="grown_up"), sequence=2)
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute(f"SELECT person_digest IS NOT NULL FROM {schema}.rejected_messages").fetchone()[0]

    referrals_store.erase_personal_data(a_context(), referrals_store.get_case(accepted.body.case_id).person_ref)

    with psycopg.connect(postgres.url) as conn:
        kept = conn.execute(f"SELECT sealed_body, wrapped_body_key, person_digest, reasons"
                            f" FROM {schema}.rejected_messages").fetchone()
    assert kept[:3] == (None, None, None) and kept[3]


def _name_of(referrals_store, accepted) -> str:
    case = referrals_store.get_case(accepted.body.case_id)
    return referrals_store.vault.read_person(case.person_ref, actor="test").given_name


def test_refused_messages_nobody_resolved_lose_their_kept_copy_after_the_retention_period(inbox, referrals_store,
                                                                                          postgres, schema):
    inbox.receive(SUBJECT, a_referral("PR-40", cohort="grown_up"), sequence=1)
    inbox.receive(SUBJECT, a_referral("PR-41", cohort="grown_up"), sequence=2)
    with psycopg.connect(postgres.url) as conn:
        conn.execute(f"UPDATE {schema}.rejected_messages SET received_at = now() - interval '31 days'"
                     " WHERE stream_sequence = 1")

    destroyed = destroy_old_refusals(referrals_store, schema, retention_days=30)

    with psycopg.connect(postgres.url) as conn:
        kept = dict(conn.execute(f"SELECT stream_sequence, sealed_body IS NOT NULL OR person_digest IS NOT NULL"
                                 f" FROM {schema}.rejected_messages").fetchall())
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


def arrivals(*bodies: tuple[str, bytes]) -> list[Arrival]:
    return [Arrival(f"casetrack.ingest.{subject}", body, sequence) for sequence, (subject, body) in
            enumerate(bodies, start=1)]


def a_stranger(ref: str) -> bytes:
    """A referral of a young person no other message shares a detail with."""
    return a_referral(ref, young_person={"given_name": f"Ari{uuid.uuid4().hex[:6]}",
                                         "family_name": f"Inbox{uuid.uuid4().hex[:6]}", "date_of_birth": "2006-01-01"})


def a_closure(ref: str, message_id: str) -> bytes:
    return json.dumps({"district_ref": ref, "message_id": message_id, "occurred_at": "2026-11-03T09:00:00Z",
                       "reason": "returned_home"}).encode()


def test_a_batch_of_referrals_is_saved_in_one_transaction(inbox, referrals_store, monkeypatch):
    record_changes, transactions, before = referrals_store.record_changes, [], referrals_store.position()
    monkeypatch.setattr(referrals_store, "record_changes",
                        lambda changes: transactions.append(len(changes)) or record_changes(changes))

    done = inbox.receive_all(arrivals(*(("preston.referral", a_stranger(f"PR-G{n}")) for n in range(20))), {})

    assert [type(done.answers[n].body) for n in range(1, 21)] == [MessageAccepted] * 20
    assert transactions == [20] and referrals_store.position() == before + 20


def test_a_message_failing_in_the_middle_of_a_group_is_rejected_alone_and_the_others_are_saved_in_order(
        inbox, referrals_store, monkeypatch):
    record_changes, before = referrals_store.record_changes, referrals_store.position()
    failing = {"ref": "PR-M2"}

    def record_unless_it_holds_the_failing_message(changes):
        if any(write.params and failing["ref"] in write.params for change in changes for write in change.also_write):
            raise OSError("disk")
        return record_changes(changes)

    monkeypatch.setattr(referrals_store, "record_changes", record_unless_it_holds_the_failing_message)
    batch = arrivals(("preston.referral", a_stranger("PR-M1")), ("preston.referral", a_stranger("PR-M2")),
                     ("preston.referral", a_stranger("PR-M3")), ("dover.referral", a_stranger("DV-M1")))
    attempts: dict[int, int] = {}

    first = inbox.receive_all(batch, attempts)
    second = inbox.receive_all([a for a in batch if a.sequence not in first.answers], attempts)
    third = inbox.receive_all([a for a in batch if a.sequence not in first.answers | second.answers], attempts)
    answers = first.answers | second.answers | third.answers

    assert sorted(first.answers) == [1, 4] and first.held == {"preston"}  # PR-M3 waits behind PR-M2
    assert [type(answers[n].body) for n in (1, 2, 3, 4)] == [MessageAccepted, MessageRejected, MessageAccepted,
                                                            MessageAccepted]
    assert [r.type for r in answers[2].body.reasons] == ["ProcessingFailed"]
    positions = [int(answers[n].body.position.removeprefix("referral:")) for n in (1, 3)]
    assert positions[0] < positions[1] and referrals_store.position() == before + 3


def test_a_message_breaking_a_rule_is_rejected_and_the_messages_around_it_are_accepted(inbox):
    batch = arrivals(("preston.referral", a_stranger("PR-R1")),
                     ("preston.closure", a_closure("PR-R1", "PR-R1-c")),
                     ("preston.closure", a_closure("PR-R1", "PR-R1-again")),  # the case is already closed
                     ("preston.referral", a_stranger("PR-R2")))

    done = inbox.receive_all(batch, {})

    assert [type(done.answers[n].body) for n in (1, 2, 3, 4)] == [MessageAccepted, MessageAccepted,
                                                                 MessageRejected, MessageAccepted]
    assert [r.type for r in done.answers[3].body.reasons] == ["CaseAlreadyClosed"]


def test_a_young_person_presenting_twice_in_one_batch_is_linked_as_if_the_messages_came_one_by_one(inbox):
    person = {"given_name": f"Twice{uuid.uuid4().hex[:6]}", "family_name": "Batch", "date_of_birth": "2006-01-01"}

    done = inbox.receive_all(arrivals(("preston.referral", a_referral("PR-T1", young_person=person)),
                                      ("preston.referral", a_referral("PR-T2", young_person=person))), {})

    assert [done.answers[1].body.person_linked, done.answers[2].body.person_linked] == [False, True]


def test_a_young_person_known_only_in_another_district_is_flagged_never_linked_for_a_district(inbox):
    person = {"given_name": f"Across{uuid.uuid4().hex[:6]}", "family_name": "Two", "date_of_birth": "2006-01-01"}

    done = inbox.receive_all(arrivals(("preston.referral", a_referral("PR-A1", young_person=person)),
                                      ("dover.referral", a_referral("DV-A1", young_person=person))), {})

    dover = done.answers[2].body
    assert (dover.person_linked, dover.possible_match) == (False, True)


def test_a_database_outage_mid_group_loses_nothing_and_counts_against_no_message(inbox, referrals_store,
                                                                                  monkeypatch):
    from eventsourcing.persistence import OperationalError

    record_changes, outage, before = referrals_store.record_changes, {"left": 3}, referrals_store.position()

    def record_while_the_database_comes_back(changes):
        if outage["left"] > 0:
            outage["left"] -= 1
            raise OperationalError("connection refused")
        return record_changes(changes)

    monkeypatch.setattr(referrals_store, "record_changes", record_while_the_database_comes_back)
    batch = arrivals(*(("preston.referral" if n % 2 else "dover.referral", a_stranger(f"OUT-{n}")) for n in range(6)))
    attempts: dict[int, int] = {}
    answers: dict = {}

    while len(answers) < len(batch):
        answers |= inbox.receive_all([a for a in batch if a.sequence not in answers], attempts).answers

    assert {type(answer.body) for answer in answers.values()} == {MessageAccepted}
    assert attempts == {} and referrals_store.position() == before + 6
    assert [answers[n].body.district_ref for n in sorted(answers)] == [f"OUT-{n}" for n in range(6)]
