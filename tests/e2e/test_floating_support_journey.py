"""Floating support alongside a placement, over HTTP on the running system: a young person placed in a foyer
gets floating support from another scheme at the same time; the placement ends, the support goes on, and ends
with the young person remaining in their own home. Both reach the young person's journey.

Cases are made through the referral service; the placement service learns of them from the referral stream,
so a start waits for the referral's position (`after=referral:N`), and every list read waits for the write."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers
from tests.e2e.test_placement_journey import CaseWorker, PlacementTeam, days_ago, journey_of


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


def test_floating_support_runs_alongside_a_placement_and_ends_with_the_young_person_at_home(
        referral, placement, journeys):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "wyre")
    foyer = team.scheme("Wyre Foyer", "foyer", "progression", "medium")
    support = team.scheme("Wyre Floating Support", "floating_support", "progression", "low", units=3)
    case = worker.refer("wyre", days_ago(60))
    worker.allocate(case["case_id"], days_ago(55))
    placed = team.start(case["case_id"], foyer, days_ago(50), after=worker.position)

    started = placement.post("/floating-support", params={"after": worker.position}, json={
        "case_id": case["case_id"], "scheme_id": support, "occurred_at": days_ago(40).isoformat()})
    assert started.status_code == 201, started.text
    episode_id = started.json()["episode_id"]
    both = (placement.get(f"/young-people/{case['person_ref']}/placement").json(),
            placement.get(f"/young-people/{case['person_ref']}/floating-support").json())
    team.change(placed["placement_id"], "ending", planned=True, destination="social_rented",
                occurred_at=days_ago(20))
    after_the_placement = placement.get(f"/floating-support/{episode_id}").json()
    still_open = placement.get("/open-floating-support", params={"after": team.position, "district": "wyre"})
    ended = placement.post(f"/floating-support/{episode_id}/ending", json={
        "planned": True, "destination": "remained_in_own_home", "hours_delivered": 60,
        "occurred_at": days_ago(2).isoformat()})
    assert ended.status_code == 200, ended.text

    assert (both[0]["placement_id"], both[0]["status"]) == (placed["placement_id"], "open")
    assert (both[1]["episode_id"], both[1]["status"], both[1]["in_placement_id"]) == (
        episode_id, "open", placed["placement_id"])
    assert (after_the_placement["status"], after_the_placement["days_supported"]) == ("open", 40)
    assert still_open.status_code == 200, still_open.text
    assert [(s["scheme_id"], [e["episode_id"] for e in s["episodes"]]) for s in still_open.json()["schemes"]] == [
        (support, [episode_id])]
    assert placement.get(f"/young-people/{case['person_ref']}/floating-support").status_code == 404
    scheme = placement.get(f"/schemes/{support}").json()
    assert (scheme["capacity"], scheme["let"]) == (3, 0)

    journey = journey_of(journeys, case["case_id"], worker.position, ended.json()["position"])
    steps = [(step["event_type"], step["facts"].get("destination")) for step in journey["steps"]
             if step["service"] == "placement"]
    assert steps == [("PlacementStarted", None), ("FloatingSupportStarted", None),
                     ("PlacementEnded", "social_rented"), ("FloatingSupportEnded", "remained_in_own_home")]
    assert all(str(value) != case["person_ref"] for step in journey["steps"] for value in step["facts"].values())
    empty = placement.get("/open-floating-support", params={"after": ended.json()["position"], "district": "wyre"})
    assert empty.json()["schemes"] == []


def test_the_split_words_are_refused_and_unknown_destinations_are_counted(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "fylde")
    foyer = team.scheme("Fylde Foyer", "foyer", "progression", "medium")
    support = team.scheme("Fylde Floating Support", "floating_support", "progression", "low")
    case = worker.refer("fylde", days_ago(30))
    worker.allocate(case["case_id"], days_ago(28))

    old_scheme = placement.post("/schemes", json={
        "provider_id": team.provider_id, "name": "Old Words", "district": "fylde",
        "provision_type": "visiting_floating_support", "pathway_stage": "progression", "support_level": "low",
        "support_hours_per_week": 2, "capacity_units": 4, "opened_on": days_ago(100).date().isoformat()})
    into_support = placement.post("/placements", params={"after": worker.position}, json={
        "case_id": case["case_id"], "scheme_id": support, "route": "panel",
        "occurred_at": days_ago(25).isoformat()})
    placed = team.start(case["case_id"], foyer, days_ago(25), after=worker.position)
    old_destination = placement.post(f"/placements/{placed['placement_id']}/ending", json={
        "planned": False, "destination": "other_or_not_known", "occurred_at": days_ago(5).isoformat()})
    team.change(placed["placement_id"], "breakdown", reason="young_person_left", occurred_at=days_ago(5))

    counted = placement.get("/destinations-not-known", params={"after": team.position, "district": "fylde"})

    assert (old_scheme.status_code, old_scheme.json()["detail"][0]["type"]) == (422, "ProvisionTypeNoLongerRecorded")
    assert (into_support.status_code, into_support.json()["detail"][0]["type"]) == (
        422, "FloatingSupportSchemeTakesNoPlacements")
    assert (old_destination.status_code, old_destination.json()["detail"][0]["type"]) == (
        422, "DestinationNoLongerRecorded")
    assert counted.status_code == 200, counted.text
    assert (counted.json()["departures"], counted.json()["destination_not_known"],
            counted.json()["percent_not_known"]) == (1, 1, 100.0)
    assert counted.json()["schemes"][0]["scheme_id"] == foyer
