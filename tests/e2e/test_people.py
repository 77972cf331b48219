"""Young people over HTTP: one person across two districts, uncertain matches for a person to decide, erasure."""

from __future__ import annotations

import json
import uuid

from tests.e2e.helpers import auth_headers, post_referral


def journey(journeys, case_id: str, after: str) -> dict:
    response = journeys.get(f"/journeys/{case_id}", params={"after": after})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_same_young_person_referred_in_two_districts_is_one_person_in_both_journeys(referral, journeys):
    name = {"given_name": f"Mia{uuid.uuid4().hex[:6]}", "family_name": f"Link{uuid.uuid4().hex[:6]}"}
    first = post_referral(referral, district="preston", date_of_birth="2009-02-28", **name)
    second = post_referral(referral, district="dover", gateway="childrens_services", date_of_birth="2009-02-28",
                           given_name=name["given_name"].upper(), family_name=name["family_name"])

    assert (first["person_linked"], second["person_linked"]) == (False, True)
    assert second["person_ref"] == first["person_ref"]
    linked = journey(journeys, second["case_id"], second["position"])
    assert linked["person_ref"] == first["person_ref"] and linked["district"] == "dover"
    assert [s["event_type"] for s in linked["steps"]] == ["ReferralMade", "PersonLinked"]
    assert linked["steps"][1]["facts"]["basis"] == "matching_details"

    unlinked = referral.post(f"/cases/{second['case_id']}/person-unlink", json={"occurred_at": "2026-11-21T10:00:00Z"})

    assert unlinked.status_code == 200, unlinked.text
    after = journey(journeys, second["case_id"], unlinked.json()["position"])
    assert after["person_ref"] != first["person_ref"]
    assert after["steps"][-1]["event_type"] == "PersonUnlinked"


def test_an_uncertain_match_waits_for_a_case_worker_who_links_it(referral, journeys):
    family = f"Maybe{uuid.uuid4().hex[:6]}"
    first = post_referral(referral, district="wyre", date_of_birth="2009-07-07", family_name=family)
    second = post_referral(referral, district="thanet", date_of_birth="2009-07-07", family_name=family)

    assert second["person_linked"] is False and second["possible_matches"] == [first["person_ref"]]
    waiting = referral.get("/people/possible-matches").json()
    assert {"case_id": second["case_id"], "candidate_person_ref": first["person_ref"]}.items() <= next(
        m for m in waiting if m["case_id"] == second["case_id"]).items()

    linked = referral.post(f"/cases/{second['case_id']}/person-link",
                           json={"person_ref": first["person_ref"], "occurred_at": "2026-11-21T10:00:00Z"})
    again = referral.post(f"/cases/{second['case_id']}/person-link",
                          json={"person_ref": first["person_ref"], "occurred_at": "2026-11-21T11:00:00Z"})
    nobody = referral.post(f"/cases/{second['case_id']}/person-link",
                           json={"person_ref": str(uuid.uuid4()), "occurred_at": "2026-11-21T11:00:00Z"})

    assert linked.status_code == 200, linked.text
    assert again.status_code == 409 and again.json()["detail"][0]["type"] == "AlreadyThatPerson"
    assert nobody.status_code == 422 and nobody.json()["detail"][0]["loc"] == ["body", "person_ref"]
    assert second["case_id"] not in {m["case_id"] for m in referral.get("/people/possible-matches").json()}
    steps = journey(journeys, second["case_id"], linked.json()["position"])["steps"]
    assert [s["event_type"] for s in steps] == ["ReferralMade", "PossibleMatchFlagged", "PersonLinked"]
    assert steps[2]["facts"]["basis"] == "case_worker_decision"


def test_erasure_leaves_the_journey_whole_and_the_personal_data_gone(system, referral, journeys):
    case = post_referral(referral, given_name="Erin", date_of_birth="2009-10-10")
    person = case["person_ref"]
    closed = referral.post(f"/cases/{case['case_id']}/closure",
                           json={"reason": "moved_on", "occurred_at": "2026-11-21T09:00:00Z"})
    case_worker = auth_headers(system, "childrens_services", subject="worker-9")
    officer = auth_headers(system, "data_protection_officer")
    readable = referral.get(f"/people/{person}/personal-data", headers=case_worker)

    erased = referral.delete(f"/people/{person}/personal-data", headers=officer)

    assert closed.status_code == 200 and readable.status_code == 200
    assert readable.json()["given_name"] == "Erin" and readable.json()["date_of_birth"] == "2009-10-10"
    assert erased.status_code == 200, erased.text
    assert erased.json()["case_ids"] == [case["case_id"]]
    assert referral.get(f"/people/{person}/personal-data", headers=case_worker).status_code == 410
    assert referral.delete(f"/people/{uuid.uuid4()}/personal-data", headers=officer).status_code == 404
    whole = journey(journeys, case["case_id"], erased.json()["position"])
    assert [s["event_type"] for s in whole["steps"]] == ["ReferralMade", "CaseClosed", "PersonalDataErased"]
    assert whole["steps"][0]["facts"]["age_at_event"] == 17
    assert "Erin" not in json.dumps(whole) and "2009-10-10" not in json.dumps(whole)
    reopen = referral.post(f"/cases/{case['case_id']}/reopening", json={
        "presenting_reason": "other", "cohort": "homeless_16_17", "occurred_at": "2026-11-22T09:00:00Z"})
    assert reopen.status_code == 422 and reopen.json()["detail"][0]["type"] == "PersonalDataNeeded"
