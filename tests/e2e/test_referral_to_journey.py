"""A referral made over HTTP travels through the outbox and JetStream into its journey."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import asyncpg
import httpx

from shared.devservers import System
from tests.e2e.helpers import a_referral, post_referral


def test_a_referral_posted_over_http_is_in_its_journey_read_after_its_position(referral, journeys):
    written = post_referral(referral, district="dover", flags=["uasc"], cohort="looked_after_16_17")
    response = journeys.get(f"/journeys/{written['case_id']}", params={"after": written["position"]})

    assert response.status_code == 200, response.text
    journey = response.json()
    assert journey["district"] == "dover" and journey["cohort"] == "looked_after_16_17"
    assert journey["person_ref"] == written["person_ref"]
    [step] = journey["steps"]
    assert step["event_type"] == "ReferralMade"
    assert step["facts"]["age_at_event"] == 17 and step["facts"]["flags"] == ["uasc"]
    assert "date_of_birth" not in json.dumps(journey) and "2009-03-14" not in json.dumps(journey)


def test_a_malformed_referral_gets_422_with_its_field_errors_and_stores_nothing(referral):
    before = referral.get("/health", params={"fresh": "true"}).json()["store_position"]

    missing = referral.post("/referrals", json={k: v for k, v in a_referral().items() if k != "cohort"})
    too_old = referral.post("/referrals", json=a_referral(date_of_birth="1990-01-01", cohort="care_leaver"))
    unknown_district = referral.post("/referrals", json=a_referral(district="atlantis"))

    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "cohort"]
    assert too_old.status_code == 422 and too_old.json()["detail"][0]["type"] == "YoungPersonOutsideAgeRange"
    assert unknown_district.status_code == 422 and unknown_district.json()["detail"][0]["loc"] == ["body", "district"]
    assert referral.get("/health", params={"fresh": "true"}).json()["store_position"] == before


def test_a_journey_that_does_not_exist_is_a_404_and_a_bad_position_a_422(journeys):
    assert journeys.get("/journeys/8a0d8a0e-0000-4000-8000-000000000000").status_code == 404
    response = journeys.get("/journeys/8a0d8a0e-0000-4000-8000-000000000000", params={"after": "nowhere:1"})
    assert response.status_code == 422


def test_every_service_reports_its_health(system: System):
    for name, service in system.services.items():
        health = httpx.get(f"{service.url}/health", params={"fresh": "true"}, timeout=5).json()
        assert health["status"] == "ok", (name, health)
        assert health["database"] == "ok" and health["nats"] == "ok"
    assert "referral" in httpx.get(f"{system.services['journeys'].url}/health").json()["projection_lag"]["journeys"]
    assert httpx.get(f"{system.services['referral'].url}/health", params={"fresh": "true"}).json()["relay_lag"] == 0


async def test_kill_9_of_the_journeys_process_loses_and_duplicates_nothing(system: System, referral, journeys):
    before = [post_referral(referral, occurred_at=datetime(2026, 11, 1, tzinfo=UTC).isoformat()) for _ in range(10)]
    system.services["journeys"].kill()
    during = [post_referral(referral) for _ in range(10)]
    system.services["journeys"].start()
    system.services["journeys"].wait_until_healthy()

    last = during[-1]["position"]
    for written in before + during:
        response = journeys.get(f"/journeys/{written['case_id']}", params={"after": last})
        assert response.status_code == 200, response.text
        assert [s["event_type"] for s in response.json()["steps"]] == ["ReferralMade"]
    conn = await asyncpg.connect(system.database_url)
    try:
        case_ids = [w["case_id"] for w in before + during]
        steps = await conn.fetchval(
            "SELECT count(*) FROM journeys.journey_steps WHERE case_id::text = ANY($1::text[])", case_ids)
        positions = await conn.fetchval(
            "SELECT source_position FROM journeys.projection_position"
            " WHERE projection = 'journeys' AND source = 'referral'")
    finally:
        await conn.close()
    assert steps == 20
    assert positions == int(last.split(":")[1])


def test_one_trace_follows_a_referral_from_http_through_nats_into_the_journey(system: System, referral, journeys):
    written = post_referral(referral)
    assert journeys.get(f"/journeys/{written['case_id']}", params={"after": written["position"]}).status_code == 200

    deadline = time.monotonic() + 10
    while True:
        apply_spans = [s for s in spans_in(system.services["journeys"].output)
                       if s["name"].startswith("apply ReferralMade")]
        http_spans = {s["context"]["trace_id"]: s for s in spans_in(system.services["referral"].output)
                      if s["name"].startswith("POST /referrals")}
        shared = [s for s in apply_spans if s["context"]["trace_id"] in http_spans]
        if shared or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # the span exporter writes on its own schedule (50 ms here)
    assert shared, "no journeys span shares a trace with a POST /referrals request"


def spans_in(log) -> list[dict]:
    text = log.read_text(errors="replace")
    spans, depth, start = [], 0, None
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                try:
                    candidate = json.loads(text[start:index + 1])
                except ValueError:
                    continue
                if isinstance(candidate, dict) and "context" in candidate and "name" in candidate:
                    spans.append(candidate)
    return spans
