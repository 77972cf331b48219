"""Who may do what, over HTTP against the whole system: tokens, roles, districts, matching, the actor, limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import jwt
import pytest

from shared.auth import embedded_signing_key, make_signing_key, mint_token
from shared.contracts import parse_event
from shared.devservers import System
from tests.e2e.helpers import a_referral, auth_headers, post_referral


def as_(system: System, service: str, role: str = "admin", **claims) -> httpx.Client:
    return httpx.Client(base_url=system.services[service].url, timeout=20,
                        headers=auth_headers(system, role, **claims))


def refusal(response: httpx.Response) -> str:
    return response.json()["detail"][0]["type"]


# -- tokens ---------------------------------------------------------------------------------------------------


def unsigned_token() -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": "mallory", "role": "admin", "iss": "casetrack", "aud": "casetrack", "iat": now,
                       "exp": now + timedelta(minutes=5)}, key=None, algorithm="none")


@pytest.mark.parametrize(("token", "kind"), [
    (lambda system: mint_token(embedded_signing_key(system.settings.data_dir), role="admin",
                               now=datetime.now(UTC) - timedelta(hours=2)), "token_expired"),
    (lambda system: unsigned_token(), "unsigned_token"),
    (lambda system: mint_token(make_signing_key(), role="admin"), "bad_signature"),
    (lambda system: "not-a-jwt", "malformed_token"),
], ids=["expired", "unsigned", "wrongly signed", "malformed"])
def test_an_untrustworthy_token_is_a_401_with_its_reason(system: System, token, kind):
    answer = httpx.get(f"{system.services['referral'].url}/panel-agenda",
                       headers={"Authorization": f"Bearer {token(system)}"})

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert refusal(answer) == kind


def test_no_token_is_a_401_and_health_needs_none(system: System):
    for service in system.services.values():
        assert httpx.get(f"{service.url}/health").status_code in (200, 503)
        missing = httpx.get(f"{service.url}/projections")
        assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (401, "Bearer")


def test_a_role_the_route_does_not_admit_is_a_403(system: System, referral):
    person = post_referral(referral)["person_ref"]
    with as_(system, "referral", "analyst") as analyst:
        answer = analyst.get(f"/people/{person}/personal-data")
        erasure = analyst.delete(f"/people/{person}/personal-data")

    assert (answer.status_code, erasure.status_code) == (403, 403)
    assert refusal(answer) == "role_not_allowed"
    with as_(system, "referral", "data_protection_officer") as officer:
        assert officer.get(f"/people/{person}/personal-data").status_code == 200


# -- districts ------------------------------------------------------------------------------------------------


def test_a_district_officer_can_neither_read_nor_change_another_districts_case(system: System, referral, journeys):
    case = post_referral(referral, district="dover")
    with as_(system, "journeys", "admin") as admin:
        before = admin.get(f"/journeys/{case['case_id']}", params={"after": case["position"]}).json()

    with as_(system, "referral", "district_officer", district="preston") as preston:
        read = preston.get(f"/cases/{case['case_id']}")
        changed = preston.post(f"/cases/{case['case_id']}/eligibility",
                               json={"eligible": True, "occurred_at": "2026-11-21T09:00:00Z"})
        closed = preston.post(f"/cases/{case['case_id']}/closure",
                              json={"reason": "moved_on", "occurred_at": "2026-11-21T09:00:00Z"})
        referred = preston.post("/referrals", json=a_referral(district="dover"))
        agenda = preston.get("/panel-agenda", params={"district": "dover"})
        own_agenda = preston.get("/panel-agenda")
        personal = preston.get(f"/people/{case['person_ref']}/personal-data")
    with as_(system, "journeys", "district_officer", district="preston") as preston_journeys:
        journey = preston_journeys.get(f"/journeys/{case['case_id']}")
    with as_(system, "placement", "district_officer", district="preston") as preston_placement:
        known = preston_placement.get(f"/cases/{case['case_id']}", params={"after": case["position"]})

    assert [r.status_code for r in (read, changed, closed, referred, agenda, personal, journey, known)] == [403] * 8
    assert {refusal(r) for r in (read, changed, closed, referred, agenda, journey, known)} == {"not_your_district"}
    assert own_agenda.status_code == 200 and own_agenda.json()["district"] == "preston"
    after = referral.get(f"/cases/{case['case_id']}").json()
    assert (after["version"], after["status"]) == (1, "open")  # nothing was recorded
    assert journeys.get(f"/journeys/{case['case_id']}").json()["steps"] == before["steps"]


def test_a_district_officer_follows_their_own_districts_case(system: System):
    with as_(system, "referral", "district_officer", district="preston") as preston:
        case = preston.post("/referrals", json=a_referral(district="preston")).json()
        changed = preston.post(f"/cases/{case['case_id']}/eligibility",
                               json={"eligible": True, "occurred_at": "2026-11-21T09:00:00Z"})
        read = preston.get(f"/cases/{case['case_id']}")

    assert changed.status_code == 200 and read.json()["version"] == 2


# -- matching -------------------------------------------------------------------------------------------------


def test_a_match_in_another_district_is_never_revealed_to_a_district_officer(system: System, referral):
    name = {"given_name": f"Cross{uuid.uuid4().hex[:8]}", "family_name": "Border", "date_of_birth": "2009-05-05"}
    known = post_referral(referral, district="preston", **name)

    with as_(system, "referral", "district_officer", district="dover") as dover:
        answer = dover.post("/referrals", json=a_referral(district="dover", **name))
        written = answer.json()
        matches = dover.get("/people/possible-matches").json()
        case = dover.get(f"/cases/{written['case_id']}").json()

    assert answer.status_code == 201, answer.text
    assert (written["person_linked"], written["possible_matches"]) == (False, [])
    assert known["person_ref"] not in answer.text and known["person_ref"] not in str(matches)
    assert case["possible_matches"] == [] and case["person_ref"] == written["person_ref"]
    with as_(system, "referral", "childrens_services") as county:
        waiting = county.get("/people/possible-matches").json()
        decided = county.post(f"/cases/{written['case_id']}/person-link",
                              json={"person_ref": known["person_ref"], "occurred_at": "2026-11-21T09:00:00Z"})
    assert {"case_id": written["case_id"], "candidate_person_ref": known["person_ref"]}.items() <= next(
        m for m in waiting if m["case_id"] == written["case_id"]).items()
    assert decided.status_code == 200, decided.text


def test_a_match_within_the_officers_own_district_is_linked_as_before(system: System):
    name = {"given_name": f"Same{uuid.uuid4().hex[:8]}", "family_name": "Town", "date_of_birth": "2009-06-06"}
    with as_(system, "referral", "district_officer", district="dover") as dover:
        first = dover.post("/referrals", json=a_referral(district="dover", **name)).json()
        second = dover.post("/referrals", json=a_referral(district="dover", **name)).json()

    assert (second["person_linked"], second["person_ref"]) == (True, first["person_ref"])


# -- the actor, journeys' readers, limits --------------------------------------------------------------------


async def test_the_actor_recorded_is_the_tokens_subject_whatever_x_actor_says(system: System):
    headers = auth_headers(system, "childrens_services", subject="worker-jo") | {"X-Actor": "mallory"}
    with httpx.Client(base_url=system.services["referral"].url, timeout=20, headers=headers) as client:
        written = client.post("/referrals", json=a_referral()).json()

    conn = await asyncpg.connect(system.database_url)
    try:
        rows = await conn.fetch("SELECT state FROM referral.referrals_events WHERE originator_id = $1",
                                uuid.UUID(written["case_id"]))
    finally:
        await conn.close()
    assert [parse_event(bytes(row["state"])).actor for row in rows] == ["worker-jo"]


def test_an_auditor_gives_a_reason_and_every_journey_read_is_recorded(system: System, referral):
    case = post_referral(referral)
    with as_(system, "journeys", "auditor", subject="auditor-ann") as auditor:
        unexplained = auditor.get(f"/journeys/{case['case_id']}", params={"after": case["position"]})
        explained = auditor.get(f"/journeys/{case['case_id']}", params={"reason": "complaint 42 review"})
        log = auditor.get("/journey-reads")
    with as_(system, "journeys", "admin") as admin:
        reads = admin.get("/journey-reads", params={"case_id": case["case_id"]}).json()

    assert (unexplained.status_code, refusal(unexplained)) == (422, "reason_required")
    assert explained.status_code == 200 and log.status_code == 403
    assert [(r["subject"], r["role"], r["reason"]) for r in reads] == [("auditor-ann", "auditor",
                                                                         "complaint 42 review")]


def test_writes_beyond_the_rate_are_a_429_with_retry_after(system: System):
    subject = f"runaway-{uuid.uuid4().hex[:6]}"
    with as_(system, "referral", "childrens_services", subject=subject) as runaway:
        answers = []
        while len(answers) < 2 * system.settings.write_burst + 100:
            answers.append(runaway.post("/referrals", json={}))  # refused as malformed, yet each counts
            if answers[-1].status_code == 429:
                break
    with as_(system, "referral", "childrens_services") as someone_else:
        other = someone_else.post("/referrals", json={})

    limited = answers[-1]
    assert limited.status_code == 429, [a.status_code for a in answers[-3:]]
    assert int(limited.headers["Retry-After"]) >= 1 and refusal(limited) == "rate_limited"
    assert other.status_code == 422  # another subject's writes are not held back


def test_reading_personal_data_is_rate_limited_like_a_write(system: System):
    subject = f"harvester-{uuid.uuid4().hex[:6]}"
    with as_(system, "referral", "childrens_services", subject=subject) as harvester:
        answers = []
        while len(answers) < 2 * system.settings.write_burst + 100:
            answers.append(harvester.get(f"/people/{uuid.uuid4()}/personal-data"))  # unknown people, yet each counts
            if answers[-1].status_code == 429:
                break

    assert answers[-1].status_code == 429, [a.status_code for a in answers[-3:]]
    assert refusal(answers[-1]) == "rate_limited"
