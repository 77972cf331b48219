"""Every referral-stage event, made over HTTP, shows in the case's journey in the order it happened."""

from __future__ import annotations

from tests.e2e.helpers import post_referral


def test_each_referral_stage_of_a_case_is_in_its_journey_in_order(referral, journeys):
    case = post_referral(referral, occurred_at="2026-03-02T09:00:00Z", date_of_birth="2009-06-01")
    url = f"/cases/{case['case_id']}"
    steps = [
        ("eligibility", {"eligible": True, "occurred_at": "2026-03-03T09:00:00Z"}),
        ("mediation-attempts", {"occurred_at": "2026-03-04T09:00:00Z"}),
        ("mediation-outcomes", {"outcome": "not_possible", "occurred_at": "2026-03-05T09:00:00Z"}),
        ("assessments", {"support_needs": ["managing_money"], "support_level": "high", "risk": "medium",
                         "priority_band": "A", "occurred_at": "2026-03-06T09:00:00Z"}),
        ("panel-decisions", {"decision": "allocate_service", "panel_date": "2026-03-09",
                             "emergency_placement_reported": True, "occurred_at": "2026-03-09T14:00:00Z"}),
        ("closure", {"reason": "moved_on", "occurred_at": "2026-06-01T09:00:00Z"}),
    ]
    for path, body in steps:
        response = referral.post(f"{url}/{path}", json=body)
        assert response.status_code == 200, (path, response.text)
    closed = referral.post(f"{url}/mediation-attempts", json={"occurred_at": "2026-06-02T09:00:00Z"})
    reopened = referral.post(f"{url}/reopening", json={
        "presenting_reason": "loss_of_tenancy", "cohort": "homeless_16_17",
        "occurred_at": "2026-11-01T09:00:00Z"})

    assert closed.status_code == 409 and closed.json()["detail"][0]["type"] == "CaseAlreadyClosed"
    assert reopened.status_code == 200, reopened.text
    journey = journeys.get(f"/journeys/{case['case_id']}", params={"after": reopened.json()["position"]}).json()
    assert journey["status"] == "open"
    assert [s["event_type"] for s in journey["steps"]] == [
        "ReferralMade", "EligibilityDecided", "MediationAttempted", "MediationConcluded", "AssessmentCompleted",
        "PanelDecisionMade", "CaseClosed", "CaseReopened"]
    assert journey["steps"][1]["facts"]["eligible"] is True
    assert "prevention_duty_due_on" not in journey["steps"][1]["facts"]  # EligibilityDecided v2 derives no date


def test_a_change_to_a_case_that_does_not_exist_is_a_404_and_a_bad_body_a_422(referral):
    missing = referral.post("/cases/8a0d8a0e-0000-4000-8000-000000000000/closure",
                            json={"reason": "other", "occurred_at": "2026-03-03T09:00:00Z"})
    case = post_referral(referral)
    bad = referral.post(f"/cases/{case['case_id']}/assessments", json={"support_level": "enormous"})
    assert missing.status_code == 404
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} >= {("body", "support_level"), ("body", "risk")}
