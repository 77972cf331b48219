"""Issue 11, done when: a care leaver referred at 16, turning 18 during a placement, counted by status on each day.

The referral is back-dated to before the young person's 18th birthday, and the first day of the month after it
is in the past: casetrack records AgeReached dated 00:00 UTC on that first day, never the birthday (decision 10:
the date of birth stays in the vault; the event reveals at most the month of birth). The journeys service counts
the case as relevant, 16-17, on each day to the end of the birthday month and as former relevant, 18+, from the
first of the next; the placement's B&B nights are split at that day. The dates are taken relative to today so
that this holds on any day of the month and at any time of day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers, post_referral

TODAY = datetime.now(UTC).date()
COUNTED_AS_18 = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
"""The first day of last month (28 to 61 days ago): the young person is counted as 18 from it."""
BIRTHDAY = (COUNTED_AS_18 - timedelta(days=1)).replace(day=10)
"""Their 18th birthday: the 10th of the month before (19 to 22 days earlier), the date of no event."""
REFERRED = BIRTHDAY - timedelta(days=400)
"""Referred at 16 (a relevant child: care leavers include 16/17 year olds), more than a year before turning 18."""
DISTRICT = "pendle"  # a district of its own in the module's shared system: the counts are this test's alone


def day(days_ago: int) -> date:
    return TODAY - timedelta(days=days_ago)


def moment(on: date, hour: int = 10) -> str:
    return datetime(on.year, on.month, on.day, hour, tzinfo=UTC).isoformat()


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


def written(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def counts_on(journeys: httpx.Client, on: date, *after: str) -> set[tuple[str, str, str, int]]:
    body = written(journeys.get("/counts-by-status", params={"on": on.isoformat(), "district": DISTRICT,
                                                             "after": list(after)}))
    return {(c["cohort"], c["legal_status"], c["age_band"], c["cases"]) for c in body["counts"]}


def test_a_care_leaver_referred_at_16_turning_18_during_a_placement_is_counted_by_status_on_each_day(
        system, referral, placement, journeys):
    date_of_birth = BIRTHDAY.replace(year=BIRTHDAY.year - 18)  # born on the 10th
    referred = post_referral(referral, district=DISTRICT, gateway="leaving_care_team", cohort="care_leaver",
                             legal_status="relevant", presenting_reason="leaving_care",
                             date_of_birth=date_of_birth.isoformat(), occurred_at=moment(REFERRED))
    case_id = referred["case_id"]
    referral_made = written(journeys.get(f"/journeys/{case_id}", params={"after": [referred["position"]]}))["steps"][0]
    assert (referral_made["event_type"], referral_made["facts"]["age_at_event"]) == ("ReferralMade", 16)

    provider = written(placement.post("/providers", json={"name": "Pendle Young People's Trust",
                                                          "district": DISTRICT}), 201)
    hotel = written(placement.post("/schemes", json={
        "provider_id": provider["provider_id"], "name": "Station Hotel", "district": DISTRICT,
        "provision_type": "bed_and_breakfast", "pathway_stage": "assessment", "support_level": "low",
        "support_hours_per_week": 0, "capacity_units": 3, "opened_on": day(365).isoformat()}), 201)
    placed = written(placement.post("/placements", params={"after": referred["position"]}, json={
        "case_id": case_id, "scheme_id": hotel["scheme_id"], "route": "emergency",
        "occurred_at": moment(BIRTHDAY - timedelta(days=10))}), 201)  # 17 when placed: 18 during the placement
    nights = written(placement.post(f"/placements/{placed['placement_id']}/bed-and-breakfast-nights", json={
        "first_night": (COUNTED_AS_18 - timedelta(days=5)).isoformat(), "nights": 10}))  # 5 counted 16-17, 5 18+
    swept = written(referral.post("/birthdays"))  # the sweep finds nothing left: AgeReached is already recorded
    later = written(referral.post(f"/cases/{case_id}/assessments", json={
        "occurred_at": moment(day(2)), "support_needs": ["managing_money"], "support_level": "medium",
        "risk": "low", "priority_band": "A"}))

    assert case_id not in swept["case_ids"]
    journey = written(journeys.get(f"/journeys/{case_id}", params={"after": [later["position"],
                                                                              nights["position"]]}))
    steps = [(step["event_type"], step["occurred_at"][:10]) for step in journey["steps"]]
    reached = next(step for step in journey["steps"] if step["event_type"] == "AgeReached")
    assert reached["occurred_at"] == f"{COUNTED_AS_18.isoformat()}T00:00:00+00:00"  # the first of the next month
    assert (reached["facts"]["age"], reached["facts"]["legal_status"], reached["facts"]["cohort"]) == (
        18, "former_relevant", "care_leaver")
    assert BIRTHDAY.isoformat() not in {occurred_on for _, occurred_on in steps}  # no event is dated the birthday
    assert [step[0] for step in steps][:4] == [
        "ReferralMade", "PlacementStarted", "BedAndBreakfastNightsRecorded", "AgeReached"]  # in the order they happened

    before, after_ = ("care_leaver", "relevant", "16-17", 1), ("care_leaver", "former_relevant", "18+", 1)
    assert counts_on(journeys, REFERRED - timedelta(days=1)) == set()  # before the referral
    assert counts_on(journeys, REFERRED) == {before}
    assert counts_on(journeys, BIRTHDAY) == {before}  # counted 16-17 to the end of the birthday month
    assert counts_on(journeys, COUNTED_AS_18 - timedelta(days=1)) == {before}
    assert counts_on(journeys, COUNTED_AS_18) == {after_}
    assert counts_on(journeys, TODAY) == {after_}

    by_age = written(journeys.get("/bed-and-breakfast-nights-by-age", params={
        "start": REFERRED.isoformat(), "end": TODAY.isoformat(), "district": DISTRICT,
        "after": [nights["position"]]}))
    assert {(n["age_band"], n["nights"]) for n in by_age["nights"]} == {("16-17", 5), ("18+", 5)}


def test_analysts_read_counts_by_status_but_not_a_cases_safeguarding_flags(system, referral, journeys):
    seventeen = date(TODAY.year - 17, TODAY.month, 1)  # 16 or 17 five days ago, whatever today is
    referred = post_referral(referral, district="rossendale", occurred_at=moment(day(5)),
                             date_of_birth=seventeen.isoformat())
    raised = written(referral.post(f"/cases/{referred['case_id']}/flags", json={
        "occurred_at": moment(day(4)), "flag": "exploitation"}))
    analyst = auth_headers(system, role="analyst")

    assert journeys.get("/counts-by-status", headers=analyst).status_code == 200
    assert referral.get(f"/cases/{referred['case_id']}/safeguarding-flags", headers=analyst).status_code == 403
    elsewhere = auth_headers(system, role="district_officer", district="pendle")
    assert referral.get(f"/cases/{referred['case_id']}/safeguarding-flags", headers=elsewhere).status_code == 403
    officer = auth_headers(system, role="district_officer", district="rossendale")
    [flag] = written(referral.get(f"/cases/{referred['case_id']}/safeguarding-flags", headers=officer))
    assert flag["flag"] == "exploitation" and flag["ended_at"] is None
    journey = written(journeys.get(f"/journeys/{referred['case_id']}", headers=analyst,
                                   params={"after": [raised["position"]]}))
    [step] = [step for step in journey["steps"] if step["event_type"] == "RestrictedFlagRaised"]
    assert step["facts"]["flag"] == "restricted"
    assert "exploitation" not in str(journey)


def test_casetrack_birthdays_runs_the_sweep_of_the_running_system(system):
    from tests.e2e.test_projections_cli import casetrack

    done = casetrack(system, "birthdays")

    assert done.returncode == 0, done.stderr
    assert f"turned 18 by {TODAY.isoformat()}" in done.stdout
