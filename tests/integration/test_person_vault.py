"""The person vault on real PostgreSQL: personal data sealed, erasable, and the same young person linked."""

from __future__ import annotations

from contextlib import contextmanager
from uuid import uuid4

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import DataError

from services.referral.application import (
    CaseAlreadyLinked,
    PersonalDataNeeded,
    PersonHasOtherCases,
    PersonWasErased,
)
from services.referral.domain import CaseIsNotLinked
from services.referral.handlers import CloseCase, handle
from services.referral.vault import NONCE_BYTES, WAL_NOT_SWITCHED, WAL_SWITCHED, PersonalDataErased, PersonVault
from shared.contracts.referral import PersonalDataErased as PersonalDataErasedEvent
from shared.contracts.referral import PersonLinked, PersonUnlinked, PossibleMatchFlagged
from shared.contracts.vocabulary import ClosureReason, LinkBasis, PresentingReason
from shared.eventstore import SqlWrite
from tests.unit.builders import REFERRAL_DAY, a_context, a_referral_request, a_young_person, at, born, days_after


@pytest.fixture
def store(referrals_store):
    return referrals_store


def raw_rows(postgres, schema: str) -> list[str]:
    """Every row of every table in the schema, as PostgreSQL prints it (bytea in hex)."""
    with psycopg.connect(postgres.url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        return [row[0] for table in tables
                for row in conn.execute(f'SELECT t::text FROM {schema}."{table}" t')]


def events_of(store, case_id):
    return list(store.events.get(case_id))


def test_personal_details_are_only_in_the_vault_sealed_and_can_be_read_back(store, postgres, schema):
    person = a_young_person(given_name="Zoë", family_name="O'Neil-Fairweather", phone="07700 900999")
    case, _ = store.make_referral(a_context(), **a_referral_request(person))

    rows = "\n".join(raw_rows(postgres, schema))
    for detail in ("Zo", "Fairweather", "07700", person.date_of_birth.isoformat(), "Example Street"):
        assert detail not in rows
        assert detail.encode().hex() not in rows
    assert store.vault.read_person(case.person_ref, actor="worker-3") == person
    with psycopg.connect(postgres.url) as conn:
        reads = conn.execute(f"SELECT person_ref, actor FROM {schema}.personal_data_reads").fetchall()
    assert reads == [(case.person_ref, "worker-3")]


def test_erasure_destroys_the_key_so_the_details_in_the_raw_database_cannot_be_opened(store, postgres, schema):
    someone_else, _ = store.make_referral(a_context(), **a_referral_request())
    case, _ = store.make_referral(a_context(), **a_referral_request())
    handle(store, CloseCase(case_id=case.id, reason=ClosureReason.moved_on,
                            occurred_at=at(days_after(REFERRAL_DAY, 30))), a_context())
    with psycopg.connect(postgres.url) as conn:
        wrapped_key = bytes(conn.execute(f"SELECT wrapped_key FROM {schema}.person_keys WHERE person_ref = %s",
                                         (case.person_ref,)).fetchone()[0])
        data_key = store.vault.data_key_of(case.person_ref)
        events_before = len(events_of(store, case.id))

    erased_cases, _ = store.erase_personal_data(a_context(actor="dpo"), case.person_ref)

    assert erased_cases == [case.id]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        keys_left = conn.execute(f"SELECT count(*) FROM {schema}.person_keys WHERE person_ref = %s",
                                 (case.person_ref,)).fetchone()[0]
        sealed = bytes(conn.execute(f"SELECT sealed FROM {schema}.personal_details WHERE case_id = %s",
                                    (case.id,)).fetchone()[0])
        conn.execute("CHECKPOINT")
        key_file = conn.execute("SELECT current_setting('data_directory') || '/' || pg_relation_filepath(%s)",
                                (f"{schema}.person_keys",)).fetchone()[0]
    assert keys_left == 0
    with open(key_file, "rb") as heap:  # the table's file on disk, after VACUUM: the wrapped key is gone
        assert wrapped_key not in heap.read()
    with pytest.raises(InvalidTag):  # the keys left in the vault do not open it
        AESGCM(store.vault.data_key_of(someone_else.person_ref)).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], case.id.bytes)
    assert data_key is not None and store.vault.data_key_of(case.person_ref) is None
    with pytest.raises(PersonalDataErased):
        store.vault.read_person(case.person_ref, actor="worker-3")
    history = events_of(store, case.id)
    assert len(history) == events_before + 1 and isinstance(history[-1], PersonalDataErasedEvent)
    assert [type(e).__name__ for e in history[:-1]] == ["ReferralMade", "CaseClosed"]


def test_erasing_again_records_nothing_more_and_an_unknown_person_is_refused(store):
    case, _ = store.make_referral(a_context(), **a_referral_request())
    store.erase_personal_data(a_context(), case.person_ref)
    position = store.position()

    again, again_position = store.erase_personal_data(a_context(), case.person_ref)

    assert (again, again_position) == ([case.id], position)
    with pytest.raises(LookupError):
        store.erase_personal_data(a_context(), uuid4())


def test_the_same_young_person_at_two_districts_is_linked_to_one_person_ref(store):
    person = a_young_person(given_name="Kai", date_of_birth=born(17))
    first, _ = store.make_referral(a_context(), **a_referral_request(person, district="preston",
                                                                       cohort="homeless_16_17"))
    same_details = person.model_copy(update={"given_name": " KAI ", "phone": "07700 900000"})

    second, _ = store.make_referral(a_context(), **a_referral_request(same_details, district="dover",
                                                                        cohort="homeless_16_17"))

    assert second.person_ref == first.person_ref
    linked = events_of(store, second.id)[-1]
    assert isinstance(linked, PersonLinked)
    assert (linked.basis, linked.person_ref, linked.district) == (LinkBasis.matching_details, first.person_ref,
                                                                  "dover")
    assert store.vault.cases_of(first.person_ref) == [first.id, second.id]
    assert store.vault.details_of_case(second.id).phone == "07700 900000"


def test_an_uncertain_match_is_flagged_for_a_decision_and_never_linked(store):
    person = a_young_person(date_of_birth=born(19))
    first, _ = store.make_referral(a_context(), **a_referral_request(person))
    sibling = a_young_person(family_name=person.family_name, date_of_birth=person.date_of_birth)

    second, _ = store.make_referral(a_context(), **a_referral_request(sibling, district="wyre"))

    assert second.person_ref != first.person_ref
    flag = events_of(store, second.id)[-1]
    assert isinstance(flag, PossibleMatchFlagged)
    assert (flag.candidate_person_ref, flag.matched_on) == (first.person_ref, ["date_of_birth", "family_name"])
    assert [(m["case_id"], m["candidate_person_ref"]) for m in store.vault.open_possible_matches()] == [
        (second.id, first.person_ref)]

    store.dismiss_possible_match(a_context(), second.id, first.person_ref, occurred_at=at(REFERRAL_DAY, 12))

    assert store.vault.open_possible_matches() == []
    assert store.get_case(second.id).possible_matches == set()


def test_a_case_worker_links_a_flagged_match_and_can_unlink_it_again(store):
    person = a_young_person(date_of_birth=born(19))
    first, _ = store.make_referral(a_context(), **a_referral_request(person))
    typo = person.model_copy(update={"given_name": person.given_name + "x"})
    second, _ = store.make_referral(a_context(), **a_referral_request(typo, district="dover"))
    own_ref = second.person_ref

    store.link_person(a_context(), second.id, first.person_ref, occurred_at=at(REFERRAL_DAY, 12))

    assert store.get_case(second.id).person_ref == first.person_ref
    assert store.vault.open_possible_matches() == []
    assert store.vault.cases_of(first.person_ref) == [first.id, second.id]
    assert store.vault.details_of_case(second.id) == typo  # re-sealed under the linked person's key

    store.unlink_person(a_context(), second.id, occurred_at=at(REFERRAL_DAY, 13))

    unlinked = events_of(store, second.id)[-1]
    assert isinstance(unlinked, PersonUnlinked) and unlinked.person_ref == own_ref
    assert store.get_case(second.id).person_ref == own_ref
    assert store.vault.cases_of(first.person_ref) == [first.id]
    assert store.vault.details_of_case(second.id) == typo
    with pytest.raises(CaseIsNotLinked):
        store.unlink_person(a_context(), second.id, occurred_at=at(REFERRAL_DAY, 14))


def test_an_erased_person_is_never_matched_nor_linked_to(store):
    person = a_young_person(date_of_birth=born(18))
    first, _ = store.make_referral(a_context(), **a_referral_request(person))
    store.erase_personal_data(a_context(), first.person_ref)

    second, _ = store.make_referral(a_context(), **a_referral_request(person))

    assert second.person_ref != first.person_ref and second.possible_matches == set()
    with pytest.raises(PersonWasErased):
        store.link_person(a_context(), second.id, first.person_ref, occurred_at=at(REFERRAL_DAY, 12))


def test_a_reopening_takes_the_date_of_birth_from_the_vault_or_asks_for_it_once_erased(store):
    case, _ = store.make_referral(a_context(), **a_referral_request())
    handle(store, CloseCase(case_id=case.id, reason=ClosureReason.moved_on,
                            occurred_at=at(days_after(REFERRAL_DAY, 10))), a_context())
    store.reopen_case(a_context(), case.id, young_person=None, presenting_reason=PresentingReason.other,
                      cohort="care_leaver", occurred_at=at(days_after(REFERRAL_DAY, 20)))
    handle(store, CloseCase(case_id=case.id, reason=ClosureReason.moved_on,
                            occurred_at=at(days_after(REFERRAL_DAY, 30))), a_context())
    store.erase_personal_data(a_context(), case.person_ref)

    with pytest.raises(PersonalDataNeeded):
        store.reopen_case(a_context(), case.id, young_person=None, presenting_reason=PresentingReason.other,
                          cohort="care_leaver", occurred_at=at(days_after(REFERRAL_DAY, 40)))
    store.reopen_case(a_context(), case.id, young_person=a_young_person(), presenting_reason=PresentingReason.other,
                      cohort="care_leaver", occurred_at=at(days_after(REFERRAL_DAY, 40)))

    assert store.get_case(case.id).closed is False
    assert store.vault.read_person(case.person_ref, actor="worker") is not None


def test_a_referral_whose_save_fails_leaves_nothing_in_the_vault(store, postgres, schema):
    with pytest.raises(DataError, match="division by zero"):
        store.make_referral(a_context(), **a_referral_request(), also_write=[SqlWrite("SELECT 1/0")])

    assert store.position() == 0
    with psycopg.connect(postgres.url) as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]
                  for table in ("person_keys", "personal_details", "match_keys")]
    assert counts == [0, 0, 0]


def test_a_certain_match_needs_name_and_date_of_birth_together_on_one_case(store):
    born_on = born(19)
    sam = a_young_person(given_name="Samq", family_name="Jonesq", date_of_birth=born_on)
    alex = a_young_person(given_name="Alexq", family_name="Smithq", date_of_birth=born_on)
    first, _ = store.make_referral(a_context(), **a_referral_request(sam))
    second, _ = store.make_referral(a_context(), **a_referral_request(alex))
    store.link_person(a_context(), second.id, first.person_ref, occurred_at=at(REFERRAL_DAY, 12))

    pieced, _ = store.make_referral(a_context(), **a_referral_request(
        a_young_person(given_name="Samq", family_name="Smithq", date_of_birth=born_on)))

    assert pieced.person_ref != first.person_ref
    assert pieced.possible_matches == {first.person_ref}


def test_linking_leaves_no_key_behind_that_opens_the_case_and_unlinking_an_erased_case_is_safe(store, postgres,
                                                                                                 schema):
    person = a_young_person(date_of_birth=born(19))
    first, _ = store.make_referral(a_context(), **a_referral_request(person))
    second, _ = store.make_referral(a_context(), **a_referral_request(
        person.model_copy(update={"given_name": person.given_name + "x"})))
    own = second.person_ref
    store.link_person(a_context(), second.id, first.person_ref, occurred_at=at(REFERRAL_DAY, 12))

    assert store.vault.data_key_of(own) is None  # the key the case left is destroyed with its old copy
    store.erase_personal_data(a_context(), first.person_ref)
    with psycopg.connect(postgres.url) as conn:
        sealed = bytes(conn.execute(f"SELECT sealed FROM {schema}.personal_details WHERE case_id = %s",
                                    (second.id,)).fetchone()[0])
        wrapped_keys = conn.execute(f"SELECT count(*) FROM {schema}.person_keys").fetchone()[0]
    assert wrapped_keys == 0 and sealed

    store.unlink_person(a_context(), second.id, occurred_at=at(REFERRAL_DAY, 13))

    assert store.get_case(second.id).person_ref == own
    with pytest.raises(PersonalDataErased):
        store.vault.details_of_case(second.id)


def test_a_case_is_unlinked_before_it_is_linked_elsewhere_and_never_splits_a_person(store):
    people = [a_young_person(date_of_birth=born(19)) for _ in range(3)]
    a, b, c = (store.make_referral(a_context(), **a_referral_request(p))[0] for p in people)
    store.link_person(a_context(), a.id, b.person_ref, occurred_at=at(REFERRAL_DAY, 12))

    with pytest.raises(CaseAlreadyLinked):
        store.link_person(a_context(), a.id, c.person_ref, occurred_at=at(REFERRAL_DAY, 13))
    with pytest.raises(PersonHasOtherCases):
        store.link_person(a_context(), b.id, c.person_ref, occurred_at=at(REFERRAL_DAY, 13))


def test_a_reopening_with_new_details_after_erasure_leaves_the_other_erased_cases_erased(store):
    person = a_young_person(date_of_birth=born(19))
    first, _ = store.make_referral(a_context(), **a_referral_request(person))
    second, _ = store.make_referral(a_context(), **a_referral_request(person))  # linked: same person
    for case in (first, second):
        handle(store, CloseCase(case_id=case.id, reason=ClosureReason.moved_on,
                                occurred_at=at(days_after(REFERRAL_DAY, 10))), a_context())
    store.erase_personal_data(a_context(), first.person_ref)

    store.reopen_case(a_context(), first.id, young_person=a_young_person(date_of_birth=born(19)),
                      presenting_reason=PresentingReason.other, cohort="care_leaver",
                      occurred_at=at(days_after(REFERRAL_DAY, 20)))

    with pytest.raises(PersonalDataNeeded):  # not a crash: the old details stay erased
        store.reopen_case(a_context(), second.id, young_person=None, presenting_reason=PresentingReason.other,
                          cohort="care_leaver", occurred_at=at(days_after(REFERRAL_DAY, 20)))


def test_erasure_switches_the_write_ahead_log_past_the_destroyed_key(store, postgres, schema):
    case, _ = store.make_referral(a_context(), **a_referral_request())
    with psycopg.connect(postgres.url) as conn:
        wrapped_key = bytes(conn.execute(f"SELECT wrapped_key FROM {schema}.person_keys WHERE person_ref = %s",
                                         (case.person_ref,)).fetchone()[0])
        segment_before = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
    store.erase_personal_data(a_context(actor="dpo"), case.person_ref)

    said = store.vault.switch_write_ahead_log()

    with psycopg.connect(postgres.url) as conn:
        segment_now, wal_dir = conn.execute(
            "SELECT pg_walfile_name(pg_current_wal_lsn()), current_setting('data_directory') || '/pg_wal'"
        ).fetchone()
    assert said == WAL_SWITCHED
    assert segment_now > segment_before
    with open(f"{wal_dir}/{segment_now}", "rb") as live:  # the segment being written holds no copy of the key
        assert wrapped_key not in live.read()


def test_a_database_user_who_may_not_switch_the_write_ahead_log_is_told_and_nothing_fails(store, postgres):
    role, password = f"clerk_{uuid4().hex[:8]}", uuid4().hex
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    url = postgres.url.replace(f"postgres:{postgres.password}@", f"{role}:{password}@")

    class OneConnection:  # the datastore part switch_write_ahead_log uses, logged in as the unprivileged role
        @contextmanager
        def get_connection(self):
            with psycopg.connect(url) as conn:
                yield conn

    said = PersonVault(OneConnection(), "unused", "a-vault-key").switch_write_ahead_log()

    assert said == WAL_NOT_SWITCHED
