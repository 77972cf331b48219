"""The Referrals application on PostgreSQL: what it stores and how it reads it back."""

import json
from uuid import uuid4

import pytest

from services.referral.application import CaseNotFound
from services.referral.domain import CohortDoesNotMatchAge
from shared.contracts import parse_event
from shared.contracts.referral import ReferralMade
from shared.contracts.vocabulary import Cohort

from .builders import REFERRAL_DAY, a_case, a_context, a_referral_request, a_young_person, at, born


@pytest.fixture
def store(referrals_store):
    return referrals_store


def stored_notifications(store):
    return store.recorder.select_notifications(1, 10)


def test_a_referral_is_stored_as_exactly_its_contract_json_under_its_event_type(store):
    case, _ = store.make_referral(a_context(), **a_referral_request())
    case_id, person_ref = case.id, case.person_ref

    [notification] = stored_notifications(store)
    event = parse_event(notification.state)
    assert notification.topic == "ReferralMade"
    assert event == ReferralMade.model_validate_json(notification.state)
    assert event.model_dump_json().encode() == notification.state
    assert set(json.loads(notification.state)) == set(ReferralMade.model_fields)
    assert (event.case_id, event.person_ref) == (case_id, person_ref)


def test_the_stored_event_carries_no_date_of_birth(store):
    date_of_birth = born(19)
    person = a_young_person(date_of_birth=date_of_birth)
    store.make_referral(a_context(), **a_referral_request(person))

    [notification] = stored_notifications(store)
    state = notification.state.decode()
    assert "date_of_birth" not in state
    assert date_of_birth.isoformat() not in state
    assert person.given_name not in state and person.family_name not in state and "07700" not in state


def test_the_stored_event_is_stamped_with_the_actor_and_correlation_of_the_request(store):
    context = a_context(actor="panel-chair", correlation_id=uuid4(), causation_id=uuid4())

    store.make_referral(context, **a_referral_request())

    [notification] = stored_notifications(store)
    event = parse_event(notification.state)
    assert (event.actor, event.correlation_id, event.causation_id) == (
        "panel-chair", context.correlation_id, context.causation_id,
    )


def test_each_recording_returns_a_later_position(store):
    positions = [store.record(a_context(), a_case()) for _ in range(3)]

    assert positions == [1, 2, 3]
    assert store.position() == 3


def test_recording_no_new_events_returns_the_current_position_and_stores_nothing(store):
    store.record(a_context(), a_case())

    assert store.record(a_context()) == 1
    assert len(stored_notifications(store)) == 1


def test_a_case_is_rebuilt_from_its_stored_events(store):
    made, _ = store.make_referral(
        a_context(), **a_referral_request(district="wyre", cohort=Cohort.young_person_at_risk),
    )
    case_id, person_ref = made.id, made.person_ref

    case = store.get_case(case_id)

    assert (case.id, case.person_ref, case.district, case.cohort, case.referred_at, case.version) == (
        case_id, person_ref, "wyre", Cohort.young_person_at_risk, at(REFERRAL_DAY), 1,
    )


def test_getting_a_case_that_was_never_opened_raises_case_not_found(store):
    with pytest.raises(CaseNotFound):
        store.get_case(uuid4())


def test_a_refused_referral_stores_nothing(store):
    with pytest.raises(CohortDoesNotMatchAge):
        store.make_referral(a_context(), **a_referral_request(date_of_birth=born(18), cohort=Cohort.homeless_16_17))

    assert store.position() == 0
