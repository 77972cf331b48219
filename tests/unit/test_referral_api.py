"""The referral routes on a bare FastAPI app: the router, the domain error handlers and the store on PostgreSQL,
no NATS, no lifespan."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.referral.api import router
from services.referral.application import Referrals
from shared.contracts import parse_event
from shared.errors import map_domain_errors

from .builders import REFERRAL_DAY, a_referral_body, born, days_after, without
from .tokens import bearer, trusting_test_tokens


@dataclass
class StandInRuntime:
    """The two things the referral routes use from a ServiceRuntime."""

    store: Referrals

    def saved(self, position: int) -> str:
        return f"referral:{position}"


@pytest.fixture
def store(referrals_store):
    return referrals_store


@pytest.fixture
def client(store):
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = StandInRuntime(store)
    return TestClient(trusting_test_tokens(app), headers=bearer("admin"))


def error_locations(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


def test_a_referral_opens_a_case_and_returns_its_ids_and_position(client, store):
    response = client.post("/referrals", json=a_referral_body())

    assert response.status_code == 201
    written = response.json()
    case = store.get_case(UUID(written["case_id"]))
    assert (str(case.person_ref), written["position"]) == (written["person_ref"], "referral:1")


@pytest.mark.parametrize(("body", "location"), [
    (without(a_referral_body(), "gateway"), ["body", "gateway"]),
    (a_referral_body(cohort="adult"), ["body", "cohort"]),
    (a_referral_body(occurred_at="2024-03-15T10:00:00"), ["body", "occurred_at"]),
    (a_referral_body(name="Jo Bloggs"), ["body", "name"]),
    (a_referral_body(young_person={"given_name": "Jo", "date_of_birth": "2004-01-01"}),
     ["body", "young_person", "family_name"]),
], ids=["missing field", "bad enum", "naive datetime", "extra field", "incomplete young person"])
def test_a_malformed_referral_is_refused_naming_the_field_and_stores_nothing(client, store, body, location):
    response = client.post("/referrals", json=body)

    assert response.status_code == 422
    assert error_locations(response) == [location]
    assert store.position() == 0


def test_every_malformed_field_is_listed_at_once(client, store):
    body = without(a_referral_body(cohort="adult", flags=["famous"]), "gateway")

    response = client.post("/referrals", json=body)

    assert response.status_code == 422
    assert sorted(error_locations(response)) == [["body", "cohort"], ["body", "flags", 0], ["body", "gateway"]]


def test_an_unknown_district_is_refused_naming_the_district(client, store):
    response = client.post("/referrals", json=a_referral_body(district="atlantis"))

    assert response.status_code == 422
    assert error_locations(response) == [["body", "district"]]
    assert store.position() == 0


@pytest.mark.parametrize(("body", "refusal"), [
    (a_referral_body(date_of_birth=born(15).isoformat(), cohort="homeless_16_17"), "YoungPersonOutsideAgeRange"),
    (a_referral_body(date_of_birth=born(26).isoformat()), "YoungPersonOutsideAgeRange"),
    (a_referral_body(date_of_birth=born(18).isoformat(), cohort="homeless_16_17"), "CohortDoesNotMatchAge"),
    (a_referral_body(date_of_birth=days_after(REFERRAL_DAY, 1).isoformat()), "DateOfBirthInTheFuture"),
    (a_referral_body(occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()), "EventDatedInTheFuture"),
], ids=["15 years old", "26 years old", "cohort not matching age", "born after referral", "dated in the future"])
def test_a_referral_breaking_a_rule_is_refused_with_the_rule_broken(client, store, body, refusal):
    response = client.post("/referrals", json=body)

    assert response.status_code == 422
    assert [error["type"] for error in response.json()["detail"]] == [refusal]
    assert store.position() == 0


def test_the_tokens_subject_and_the_correlation_id_are_stamped_on_the_stored_event_not_a_sent_actor(client, store):
    correlation_id = uuid4()

    client.post("/referrals", json=a_referral_body(),
                headers={**bearer("childrens_services", subject="worker-42"), "X-Actor": "somebody-else",
                         "X-Correlation-Id": str(correlation_id)})

    [notification] = store.recorder.select_notifications(1, 10)
    event = parse_event(notification.state)
    assert (event.actor, event.correlation_id) == ("worker-42", correlation_id)


def test_dates_out_of_any_sensible_range_are_refused_not_crashed_on(client, store):
    ancient = client.post("/referrals", json=a_referral_body(occurred_at="0001-01-01T00:00:00+14:00"))
    body = a_referral_body()
    body["young_person"]["date_of_birth"] = "9999-12-31"
    far_born = client.post("/referrals", json=body)

    assert ancient.status_code == 422 and ancient.json()["detail"][0]["loc"] == ["body", "occurred_at"]
    assert far_born.status_code == 422
    assert far_born.json()["detail"][0]["loc"] == ["body", "young_person", "date_of_birth"]
    assert store.position() == 0


def test_concurrent_changes_to_one_case_are_one_success_and_clear_conflicts_never_a_500(client, store):
    from concurrent.futures import ThreadPoolExecutor

    case_id = client.post("/referrals", json=a_referral_body()).json()["case_id"]
    body = {"occurred_at": days_after(REFERRAL_DAY, 1).isoformat() + "T10:00:00Z"}

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.post(f"/cases/{case_id}/mediation-attempts", json=body),
                                  range(8)))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert {r.json()["detail"][0]["type"] for r in responses if r.status_code == 409} <= {
        "MediationAlreadyInProgress", "ChangedConcurrently"}
    assert store.get_case(UUID(case_id)).mediation_attempts == 1
