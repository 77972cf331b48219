"""A renamed district: Shepway became Folkestone and Hythe on 1 April 2018. What was recorded under `shepway` stays
valid and replays; a new referral, district message, provider or scheme in Shepway after the rename is refused,
naming Folkestone and Hythe."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.placement.domain import Provider, Scheme
from services.placement.domain.errors import DistrictNotInForce as PlacementDistrictNotInForce
from services.referral import handlers
from services.referral.api import router
from services.referral.district_inbox import DistrictInbox
from services.referral.domain.case import DistrictNotInForce
from shared.auth import principal_from
from shared.contracts import parse_event
from shared.contracts.inbound import MessageAccepted, MessageRejected
from shared.contracts.vocabulary import ClosureReason
from shared.errors import map_domain_errors

from .builders import a_case, a_context, a_referral_body, a_referral_made, a_referral_request, at, born
from .placement_builders import NOW, a_provider, days_ago, scheme_fields
from .test_referral_api import StandInRuntime
from .tokens import bearer, trusting_test_tokens

BEFORE_THE_RENAME = date(2017, 6, 1)
AFTER_THE_RENAME = date(2019, 6, 1)


def referred(day: date, district: str, **overrides):
    return a_case(district=district, occurred_at=at(day), date_of_birth=born(20, on=day), **overrides)


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


# -- what was recorded under the old code -----------------------------------------------------------------------------

def test_an_event_recorded_under_shepway_still_reads_as_the_contract_it_was_written_to():
    written = a_referral_made(district="shepway", occurred_at=at(BEFORE_THE_RENAME)).model_dump_json()

    assert parse_event(written.encode()).district == "shepway"


def test_a_case_referred_in_shepway_before_the_rename_replays_under_shepway_and_goes_on_after_it(store):
    case, _ = store.make_referral(a_context(), **a_referral_request(
        district="shepway", occurred_at=at(BEFORE_THE_RENAME), date_of_birth=born(20, on=BEFORE_THE_RENAME)))
    handlers.handle(store, handlers.CloseCase(case_id=case.id, reason=ClosureReason.moved_on,
                                              occurred_at=at(AFTER_THE_RENAME)), a_context())

    stored = [parse_event(n.state) for n in store.recorder.select_notifications(1, 10)]
    replayed = store.get_case(case.id)

    assert [(e.event_type, e.district) for e in stored] == [("ReferralMade", "shepway"), ("CaseClosed", "shepway")]
    assert (replayed.district, replayed.closed) == ("shepway", True)


def test_a_shepway_officers_token_still_authenticates_so_they_can_read_the_cases_recorded_under_it():
    principal = principal_from({"sub": "officer-9", "role": "district_officer", "district": "shepway"})

    assert principal.district == "shepway"


# -- new facts --------------------------------------------------------------------------------------------------------

def test_a_new_referral_in_shepway_after_the_rename_is_refused_naming_folkestone_and_hythe():
    with pytest.raises(DistrictNotInForce) as refused:
        referred(AFTER_THE_RENAME, "shepway")

    assert refused.value.field == "district" and refused.value.status == 422
    assert "shepway" in str(refused.value) and "use folkestone-hythe" in str(refused.value)


def test_a_referral_in_folkestone_and_hythe_is_accepted_from_the_day_of_the_rename():
    [event] = referred(date(2018, 4, 1), "folkestone-hythe").collect_events()

    assert event.district == "folkestone-hythe"


def test_a_referral_on_shepways_last_day_is_still_accepted_under_shepway_and_folkestone_and_hythe_is_not():
    [event] = referred(date(2018, 3, 31), "shepway").collect_events()

    assert event.district == "shepway"
    with pytest.raises(DistrictNotInForce, match="use shepway"):
        referred(date(2018, 3, 31), "folkestone-hythe")


def test_the_referral_route_refuses_shepway_after_the_rename_with_the_rule_named_and_stores_nothing(client, store):
    response = client.post("/referrals", json=a_referral_body(district="shepway"))

    assert response.status_code == 422
    [reason] = response.json()["detail"]
    assert (reason["type"], reason["loc"]) == ("DistrictNotInForce", ["body", "district"])
    assert "folkestone-hythe" in reason["msg"]
    assert store.position() == 0


def a_district_referral(ref: str) -> bytes:
    return json.dumps({
        "district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-11-02T09:30:00Z",
        "gateway": "hub", "cohort": "care_leaver", "presenting_reason": "leaving_care",
        "young_person": {"given_name": f"Ari{uuid.uuid4().hex[:6]}", "family_name": "Inbox",
                         "date_of_birth": "2006-01-01"},
    }).encode()


def test_the_district_inbox_refuses_a_referral_on_shepways_subject_the_same_way_and_takes_folkestone_and_hythes(
        store, schema):
    inbox = DistrictInbox(store, schema, give_up_after=3)
    inbox.prepare()

    refused = inbox.receive("casetrack.ingest.shepway.referral", a_district_referral("SH-1"), sequence=1)
    accepted = inbox.receive("casetrack.ingest.folkestone-hythe.referral", a_district_referral("FH-1"), sequence=2)

    assert isinstance(refused.body, MessageRejected) and isinstance(accepted.body, MessageAccepted)
    [reason] = refused.body.reasons
    assert (reason.type, reason.field) == ("DistrictNotInForce", "district")
    assert "folkestone-hythe" in reason.problem
    assert store.position() == 1


def test_a_provider_or_scheme_registered_in_shepway_after_the_rename_is_refused_naming_folkestone_and_hythe():
    with pytest.raises(PlacementDistrictNotInForce, match="use folkestone-hythe"):
        a_provider(district="shepway", occurred_at=days_ago(10))
    with pytest.raises(PlacementDistrictNotInForce, match="use folkestone-hythe"):
        Scheme.register(provider=a_provider(), occurred_at=days_ago(10), now=NOW,
                        **scheme_fields(district="shepway"))


def test_a_provider_registered_in_shepway_before_the_rename_is_recorded_under_shepway():
    provider = Provider.register(name="Shepway Foyer", district="shepway", occurred_at=at(BEFORE_THE_RENAME), now=NOW)

    assert provider.district == "shepway"
