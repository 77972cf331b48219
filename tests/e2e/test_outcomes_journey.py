"""Outcomes over HTTP on the running system: a young person placed in a hostel moves to a foyer (a departure from
the hostel's service) and moves on; the outcomes service opens a support episode per scheme from the placement
service's events; the provider records a plan, a review and the outcomes at departure; bad input is refused with
the rule's name and stores nothing; the commissioners' KPI2, destinations and outcomes tables count the episodes
and explain KPI2 down to the placement events' ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers
from tests.e2e.test_placement_journey import CaseWorker, PlacementTeam, days_ago


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


@pytest.fixture
def outcomes(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["outcomes"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


def refused(response: httpx.Response, status: int, kind: str) -> bool:
    assert response.status_code == status, response.text
    return kind in response.text


def test_a_young_persons_support_episodes_plans_and_outcomes_reach_the_kpis(system, referral, placement, outcomes):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "tonbridge-malling")
    hostel = team.scheme("Tonbridge Hostel", "young_peoples_supported_accommodation", "progression", "medium")
    foyer = team.scheme("Malling Foyer", "foyer", "progression", "low")
    case = worker.refer("tonbridge-malling", days_ago(80))
    worker.allocate(case["case_id"], days_ago(75))
    placed = team.start(case["case_id"], hostel, days_ago(70), after=worker.position)
    team.change(placed["placement_id"], "moves", to_scheme_id=foyer, direction="step_down", planned=True,
                occurred_at=days_ago(40))
    moved_at = team.position

    episodes = outcomes.get("/support-episodes", params={"placement_id": placed["placement_id"], "after": moved_at})
    assert episodes.status_code == 200, episodes.text
    in_foyer, in_hostel = episodes.json()  # newest first
    assert (in_hostel["scheme_id"], in_hostel["service_type"], in_hostel["departure_kind"], in_hostel["planned"]) == (
        hostel, "short_term", "moved", True)
    assert (in_foyer["scheme_id"], in_foyer["ended_at"]) == (foyer, None)
    hostel_episode, foyer_episode = in_hostel["episode_id"], in_foyer["episode_id"]

    # Bad input: the rule named, nothing stored.
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/support-plan", json={
        "outcomes_needed": ["learn_to_juggle"]}), 422, "outcomes_needed")
    assert refused(outcomes.post("/support-episodes/00000000-0000-4000-8000-000000000000/support-plan", json={
        "outcomes_needed": ["maximise_income"]}), 404, "UnknownSupportEpisode")
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/reviews", json={}), 409, "NoSupportPlan")
    plan = outcomes.post(f"/support-episodes/{foyer_episode}/support-plan", json={
        "outcomes_needed": ["maximise_income", "obtain_paid_work", "reduce_debt"],
        "occurred_at": days_ago(38).isoformat()})
    assert plan.status_code == 201, plan.text
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/support-plan", json={
        "outcomes_needed": ["maximise_income"]}), 409, "SupportPlanAlreadyAgreed")
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/reviews", json={
        "results": {"manage_mental_health": "achieved"}}), 422, "OutcomeNeverNeeded")
    review = outcomes.post(f"/support-episodes/{foyer_episode}/reviews", json={
        "outcomes_added": ["establish_contact_with_family_and_friends"],
        "results": {"establish_contact_with_family_and_friends": "achieved"},
        "occurred_at": days_ago(20).isoformat()})
    assert review.status_code == 201, review.text
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/departure-outcomes", json={
        "results": {"maximise_income": "achieved"}}), 409, "EpisodeNotEnded")

    team.change(placed["placement_id"], "ending", planned=True, destination="private_rented",
                occurred_at=days_ago(5))
    ended_at = team.position
    missing = outcomes.post(f"/support-episodes/{foyer_episode}/departure-outcomes", params={"after": ended_at},
                            json={"results": {"maximise_income": "achieved"}})
    assert refused(missing, 422, "OutcomeResultMissing")
    departed = outcomes.post(f"/support-episodes/{foyer_episode}/departure-outcomes", json={"results": {
        "maximise_income": "achieved", "obtain_paid_work": "not_achieved", "reduce_debt": "not_applicable",
        "establish_contact_with_family_and_friends": "achieved"}})
    assert departed.status_code == 201, departed.text
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/departure-outcomes", json={"results": {
        "maximise_income": "achieved"}}), 409, "DepartureAlreadyRecorded")
    assert refused(outcomes.post(f"/support-episodes/{foyer_episode}/reviews", json={}), 409, "SupportPlanClosed")

    episode = outcomes.get(f"/support-episodes/{foyer_episode}").json()
    assert episode["outcomes_needed"] == sorted(["maximise_income", "obtain_paid_work", "reduce_debt",
                                                 "establish_contact_with_family_and_friends"])
    assert episode["departure_outcomes_recorded"] and episode["results"]["reduce_debt"] == "not_applicable"

    period = {"first_day": days_ago(60).date().isoformat(), "last_day": datetime.now(UTC).date().isoformat(),
              "district": "tonbridge-malling", "after": departed.json()["position"]}
    kpi2 = outcomes.get("/kpi2", params={**period, "explain": "true", "by": "scheme"})
    assert kpi2.status_code == 200, kpi2.text
    pooled, *by_scheme = kpi2.json()["figures"]
    assert (pooled["numerator"], pooled["denominator"], pooled["percent"], pooled["target_percent"]) == (
        2, 2, 100.0, 80.0)
    placement_events = {step: event for step, event in (
        ("moved", in_hostel["departure_event_id"]),
        ("ended", outcomes.get(f"/support-episodes/{foyer_episode}").json()["departure_event_id"]))}
    assert sorted(pooled["explanation"]["numerator"]) == sorted(str(e) for e in placement_events.values())
    assert {(figure["scheme"], figure["scheme_name"]) for figure in by_scheme} == {
        (hostel, "Tonbridge Hostel"), (foyer, "Malling Foyer")}

    destinations = outcomes.get("/destinations", params=period).json()
    assert {(row["destination"], row["departures"]) for row in destinations["planned"]} == {
        ("short_term_supported_housing", 1), ("private_rented", 1)}
    table = outcomes.get("/outcomes-table", params=period).json()
    rows = {row["outcome"]: row for row in table["rows"]}
    assert (rows["maximise_income"]["needed"], rows["maximise_income"]["achieved"]) == (1, 1)
    assert (rows["reduce_debt"]["needed"], rows["reduce_debt"]["not_applicable"]) == (0, 1)
    assert (table["needed"], table["achieved"], table["overall_percent"]) == (3, 2, 66.7)

    as_csv = outcomes.get("/kpi2", params={**period, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("numerator,denominator,percent")
    assert hostel_episode != foyer_episode


def test_a_provider_records_outcomes_only_in_their_own_schemes(system, referral, placement, outcomes):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "sevenoaks")
    hostel = team.scheme("Sevenoaks Hostel", "young_peoples_supported_accommodation", "progression", "medium")
    case = worker.refer("sevenoaks", days_ago(30))
    worker.allocate(case["case_id"], days_ago(25))
    placed = team.start(case["case_id"], hostel, days_ago(20), after=worker.position)
    [episode] = outcomes.get("/support-episodes", params={"placement_id": placed["placement_id"],
                                                          "after": team.position}).json()
    other = auth_headers(system, role="provider", provider="00000000-0000-4000-8000-000000000001")
    own = auth_headers(system, role="provider", provider=team.provider_id)

    theirs = outcomes.post(f"/support-episodes/{episode['episode_id']}/support-plan", headers=other,
                           json={"outcomes_needed": ["maximise_income"]})
    mine = outcomes.post(f"/support-episodes/{episode['episode_id']}/support-plan", headers=own,
                         json={"outcomes_needed": ["maximise_income"]})
    listed = outcomes.get("/support-episodes", headers=other, params={"placement_id": placed["placement_id"]})

    assert theirs.status_code == 403, theirs.text
    assert mine.status_code == 201, mine.text
    assert listed.status_code == 200 and listed.json() == []
    kpi = outcomes.get("/kpi2", headers=auth_headers(system, role="analyst"), params={"quarter": "2013-14 Q5"})
    assert kpi.status_code == 422 and "financial-year quarter" in kpi.text
