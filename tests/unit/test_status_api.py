"""The legal status, flag and birthday routes on a bare FastAPI app with the store on PostgreSQL: named 4xx
answers, never a 500, and safeguarding flags read only by children's services and the case's district."""

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.referral.api import router
from shared.errors import map_domain_errors
from shared.web import today_utc

from .builders import a_referral_body, born
from .test_referral_api import StandInRuntime
from .tokens import bearer, trusting_test_tokens


@pytest.fixture
def client(referrals_store):
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = StandInRuntime(referrals_store)
    app.dependency_overrides[today_utc] = lambda: datetime.now(UTC).date()
    return TestClient(trusting_test_tokens(app), headers=bearer("admin"))


TODAY = datetime.now(UTC).date()
REFERRAL_DAY = TODAY - timedelta(days=30)
"""Recent: the young person referred at 17 (their 17th birthday 60 days ago) is still 17 today."""


def moment(day: date) -> str:
    return f"{day.isoformat()}T10:00:00Z"


@pytest.fixture
def case_id(client) -> str:
    """A 17-year-old homeless young person referred in Preston on REFERRAL_DAY."""
    response = client.post("/referrals", json=a_referral_body(
        cohort="homeless_16_17", occurred_at=moment(REFERRAL_DAY),
        date_of_birth=born(17, on=TODAY - timedelta(days=60)).isoformat()))
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


def reasons(response) -> list[tuple]:
    return [(tuple(reason.get("loc", ())), reason["type"]) for reason in response.json()["detail"]]


def test_a_legal_status_change_is_recorded_and_shown_on_the_case(client, case_id):
    response = client.post(f"/cases/{case_id}/legal-status", json={
        "occurred_at": moment(REFERRAL_DAY + timedelta(days=7)), "legal_status": "looked_after_section_20",
        "reason": "southwark_assessment"})

    assert response.status_code == 200, response.text
    case = client.get(f"/cases/{case_id}").json()
    assert (case["legal_status"], case["cohort"]) == ("looked_after_section_20", "looked_after_16_17")


@pytest.mark.parametrize(("body", "status", "expected"), [
    ({"legal_status": "former_relevant", "reason": "corrected"}, 422,
     [(("body", "legal_status"), "LegalStatusDoesNotMatchAge")]),
    ({"legal_status": "relevant", "reason": "left_care", "cohort": "homeless_16_17"}, 422,
     [(("body", "cohort"), "CohortDoesNotMatchLegalStatus")]),
    ({"legal_status": "not_looked_after", "reason": "corrected"}, 409, [((), "LegalStatusUnchanged")]),
    ({"legal_status": "grown_up", "reason": "corrected"}, 422, [(("body", "legal_status"), "enum")]),
], ids=["impossible at 17", "cohort not of the status", "unchanged", "unknown status"])
def test_a_legal_status_change_breaking_a_rule_is_refused_by_name(client, case_id, body, status, expected):
    response = client.post(f"/cases/{case_id}/legal-status",
                           json={"occurred_at": moment(REFERRAL_DAY + timedelta(days=7))} | body)

    assert response.status_code == status, response.text
    assert reasons(response) == expected


def test_a_referral_with_a_legal_status_impossible_at_its_age_is_a_422_naming_it(client, referrals_store):
    response = client.post("/referrals", json=a_referral_body(
        cohort="care_leaver", legal_status="former_relevant", occurred_at=moment(REFERRAL_DAY),
        date_of_birth=born(17, on=TODAY - timedelta(days=60)).isoformat()))

    assert response.status_code == 422
    assert reasons(response) == [(("body", "legal_status"), "LegalStatusDoesNotMatchAge")]
    assert referrals_store.position() == 0


def test_flags_are_raised_and_ended_and_named_errors_refuse_the_rest(client, case_id):
    def post(path, **body):
        return client.post(f"/cases/{case_id}/{path}", json={"occurred_at": moment(REFERRAL_DAY)} | body)

    assert post("flags", flag="teenage_parent", dependants=1).status_code == 200
    assert reasons(post("flags", flag="teenage_parent", dependants=1)) == [((), "FlagAlreadyRaised")]
    assert reasons(post("flags", flag="rural", dependants=2)) == [
        (("body", "dependants"), "DependantsOnlyForTeenageParent")]
    assert reasons(post("flag-endings", flag="rural")) == [((), "FlagNotRaised")]
    assert post("flag-endings", flag="teenage_parent").status_code == 200
    assert client.get(f"/cases/{case_id}").json()["flags"] == ["neet"]


def test_safeguarding_flags_are_read_by_childrens_services_and_the_cases_district_only(client, case_id):
    raised = client.post(f"/cases/{case_id}/flags", json={"occurred_at": moment(REFERRAL_DAY), "flag": "mappa"})
    assert raised.status_code == 200, raised.text

    for role, district, status in [("childrens_services", None, 200), ("district_officer", "preston", 200),
                                   ("district_officer", "wyre", 403), ("analyst", None, 403), ("admin", None, 403)]:
        response = client.get(f"/cases/{case_id}/safeguarding-flags", headers=bearer(role, district=district))
        assert response.status_code == status, (role, district)
    [flag] = client.get(f"/cases/{case_id}/safeguarding-flags", headers=bearer("childrens_services")).json()
    assert flag["flag"] == "mappa"
    assert client.get(f"/cases/{case_id}").json()["restricted_flags"] == 1


@pytest.mark.parametrize("on", ["0001-01-01", "9999-12-31", "2999-01-01"])
def test_a_birthday_sweep_on_a_day_out_of_range_or_in_the_future_is_a_422(client, on):
    assert client.post("/birthdays", params={"on": on}).status_code == 422


def test_the_birthday_sweep_runs_for_today_by_default(client, case_id):
    response = client.post("/birthdays")

    assert response.status_code == 200, response.text
    assert response.json()["on"] == datetime.now(UTC).date().isoformat()
