"""Placements over HTTP on the running system: the catalogue, placements along the pathway by their routes, the
capacity race, the length-of-stay list and average stays, Ofsted registration, and every placement event in the
young person's journey.

Cases are made through the referral service (`post_referral`); the placement service learns of them from
the referral stream, so a placement request waits for the referral's position (`after=referral:N`).
Each test works in districts of its own, since the system is shared by the module."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers, post_referral

TODAY = datetime.now(UTC).date()
"""Fixed once, so every moment a test writes and then checks is the same even if midnight passes."""
NIL = "00000000-0000-0000-0000-000000000000"


def days_ago(days: int, hour: int = 10) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def night(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


class CaseWorker:
    """Makes referrals and panel decisions over HTTP, keeping the position of the last write."""

    def __init__(self, referral: httpx.Client):
        self.referral = referral
        self.position = ""

    def refer(self, district: str, referred: datetime, age: int = 17, **overrides: Any) -> dict:
        """A 17-year-old (or `age`) presenting in `district`; returns the referral's case_id and person_ref."""
        born = date(referred.year - age, referred.month, 1)
        written = post_referral(self.referral, district=district, occurred_at=referred.isoformat(),
                                date_of_birth=born.isoformat(), **overrides)
        self.position = written["position"]
        return written

    def record(self, case_id: str, change: str, occurred_at: datetime, **facts: Any) -> None:
        response = self.referral.post(f"/cases/{case_id}/{change}", json={"occurred_at": occurred_at.isoformat(),
                                                                           **facts})
        assert response.status_code == 200, (change, response.text)
        self.position = response.json()["position"]

    def allocate(self, case_id: str, on: datetime) -> None:
        """The shared assessment, then a panel decision allocating a service."""
        self.record(case_id, "assessments", on - timedelta(hours=1), support_needs=["managing_money"],
                    support_level="medium", risk="medium", priority_band="A")
        self.record(case_id, "panel-decisions", on, decision="allocate_service", panel_date=on.date().isoformat())


class PlacementTeam:
    """Registers the catalogue and records placements over HTTP, keeping the position of the last write."""

    def __init__(self, placement: httpx.Client, district: str):
        self.placement = placement
        self.district = district
        self.position = ""
        self.provider_id = self._written(placement.post("/providers", json={
            "name": "Example Young People's Trust", "district": district}), 201)["provider_id"]

    def _written(self, response: httpx.Response, status: int = 200) -> dict:
        assert response.status_code == status, response.text
        self.position = response.json()["position"]
        return response.json()

    def scheme(self, name: str, provision_type: str, pathway_stage: str, support_level: str, units: int = 5,
               **overrides: Any) -> str:
        return self._written(self.placement.post("/schemes", json={
            "provider_id": self.provider_id, "name": name, "district": self.district,
            "provision_type": provision_type, "pathway_stage": pathway_stage, "support_level": support_level,
            "support_hours_per_week": 10, "capacity_units": units, "opened_on": night(365)} | overrides), 201)[
            "scheme_id"]

    def start(self, case_id: str, scheme_id: str, on: datetime, after: str, route: str = "panel") -> dict:
        return self._written(self.placement.post("/placements", params={"after": after}, json={
            "case_id": case_id, "scheme_id": scheme_id, "route": route, "occurred_at": on.isoformat()}), 201)

    def change(self, placement_id: str, what: str, **facts: Any) -> None:
        body = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in facts.items()}
        self._written(self.placement.post(f"/placements/{placement_id}/{what}", json=body))


def journey_of(journeys: httpx.Client, case_id: str, *after: str) -> dict:
    response = journeys.get(f"/journeys/{case_id}", params={"after": list(after)})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_placement_event_reaches_the_young_persons_journey_in_order(referral, placement, journeys):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "hyndburn")
    bed_and_breakfast = team.scheme("Station Hotel", "bed_and_breakfast", "assessment", "low")
    foyer = team.scheme("Hyndburn Foyer", "foyer", "progression", "medium")
    emergency = team.scheme("Crash Pad", "emergency_assessment_bed", "assessment", "high")
    case = worker.refer("hyndburn", days_ago(30))

    first = team.start(case["case_id"], bed_and_breakfast, days_ago(29), after=worker.position, route="emergency")
    team.change(first["placement_id"], "bed-and-breakfast-nights", first_night=night(29), nights=3)
    worker.allocate(case["case_id"], days_ago(26))
    team.change(first["placement_id"], "moves", to_scheme_id=foyer, direction="step_up", planned=True,
                occurred_at=days_ago(26, hour=15))
    team.change(first["placement_id"], "breakdown", reason="evicted_by_provider", occurred_at=days_ago(10))
    second = team.start(case["case_id"], emergency, days_ago(10, hour=20), after=worker.position)
    team.change(second["placement_id"], "ending", planned=True, destination="social_rented",
                occurred_at=days_ago(2))

    journey = journey_of(journeys, case["case_id"], worker.position, team.position)
    steps = journey["steps"]
    assert [step["event_type"] for step in steps] == [
        "ReferralMade", "PlacementStarted", "BedAndBreakfastNightsRecorded", "AssessmentCompleted",
        "PanelDecisionMade", "PlacementMoved", "PlacementBrokeDown", "PlacementStarted", "PlacementEnded"]
    facts = {step["event_type"]: step["facts"] for step in steps}
    assert steps[1]["facts"]["provision_type"] == "bed_and_breakfast"
    assert (steps[1]["facts"]["route"], steps[7]["facts"]["route"]) == ("emergency", "panel")
    assert [s["facts"]["placement_number"] for s in steps if s["event_type"] == "PlacementStarted"] == [1, 2]
    assert facts["BedAndBreakfastNightsRecorded"]["nights"] == 3
    assert (facts["PlacementMoved"]["scheme_id"], facts["PlacementMoved"]["direction"]) == (foyer, "step_up")
    assert facts["PlacementBrokeDown"]["reason"] == "evicted_by_provider"
    assert (facts["PlacementEnded"]["planned"], facts["PlacementEnded"]["destination"]) == (True, "social_rented")
    assert {step["service"] for step in steps[1:3]} == {"placement"}
    assert journeys.get(f"/journeys/{NIL}").status_code == 404  # catalogue events are in no young person's journey


def test_requests_racing_for_the_last_unit_one_wins_and_the_others_get_a_409(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "rossendale")
    scheme_id = team.scheme("Last Bed", "emergency_assessment_bed", "assessment", "high", units=2)
    already = worker.refer("rossendale", days_ago(5))
    racers = [worker.refer("rossendale", days_ago(5)) for _ in range(6)]
    team.start(already["case_id"], scheme_id, days_ago(4), after=worker.position, route="emergency")
    barrier = threading.Barrier(len(racers), timeout=30)

    def race(case: dict) -> httpx.Response:
        with httpx.Client(base_url=str(placement.base_url), timeout=30, headers=placement.headers) as client:
            body = {"case_id": case["case_id"], "scheme_id": scheme_id, "route": "emergency",
                    "occurred_at": days_ago(1).isoformat()}
            barrier.wait()
            return client.post("/placements", params={"after": worker.position}, json=body)

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        responses = list(pool.map(race, racers))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    assert {r.json()["detail"][0]["type"] for r in responses if r.status_code == 409} == {
        "PlacementWouldExceedCapacity"}
    scheme = placement.get(f"/schemes/{scheme_id}").json()
    assert (scheme["capacity"], scheme["let"], scheme["vacant"]) == (2, 2, 0)
    occupancy = placement.get(f"/schemes/{scheme_id}/occupancy", params={"first_night": night(5),
                                                                         "last_night": night(0)}).json()
    assert [n["let"] for n in occupancy["nights"]] == [0, 1, 1, 1, 2, 2]
    assert [n["void"] for n in occupancy["nights"]] == [2, 1, 1, 1, 0, 0]


def test_a_schemes_own_dated_stay_limits_flag_a_stay_over_its_maximum_and_report_the_average_against_its_target(
        referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "wyre")
    emergency = team.scheme("Wyre Emergency Beds", "emergency_assessment_bed", "assessment", "high",
                            max_stay_days=91, target_stay_days=42)  # Derby's terms [003 4.4], this scheme's own
    foyer = team.scheme("Wyre Foyer", "foyer", "progression", "medium", max_stay_days=730)
    over_maximum, over_target, within, moved_on = (worker.refer("wyre", days_ago(130)) for _ in range(4))
    placed = {}
    for case, days in [(over_maximum, 100), (over_target, 50), (within, 20), (moved_on, 120)]:
        placed[case["case_id"]] = team.start(case["case_id"], emergency, days_ago(days), after=worker.position,
                                             route="emergency")
    worker.allocate(moved_on["case_id"], days_ago(40))
    team.change(placed[moved_on["case_id"]]["placement_id"], "moves", to_scheme_id=foyer, direction="step_down",
                planned=True, occurred_at=days_ago(30))
    changed = placement.post(f"/schemes/{emergency}/stay-limits", json={  # a new contract from night 30 on
        "max_stay_days": 14, "target_stay_days": 10, "effective_from": night(30)})
    assert changed.status_code == 200, changed.text
    team.position = changed.json()["position"]

    maximum = placement.get("/stays-over-limit", params={"district": "wyre", "after": [team.position]})
    target = placement.get("/stays-over-limit", params={"district": "wyre", "limit": "target"})
    averages = placement.get("/average-stays", params={"scheme_id": emergency, "after": [team.position]})

    assert maximum.status_code == averages.status_code == 200, maximum.text
    assert target.status_code == 422  # a target is an average: no stay is flagged against it
    assert [(s["case_id"], s["days_in_scheme"], s["days_over"], s["max_stay_days"]) for s in maximum.json()[
        "stays"]] == [(over_maximum["case_id"], 100, 9, 91), (within["case_id"], 20, 6, 14)]
    before, after = averages.json()["schemes"]
    assert (before["target_stay_days"], before["limits_until"], before["completed_stays"],
            before["average_completed_days"], before["ongoing_stays"], before["average_ongoing_days"]) == (
        42, night(30), 1, 90.0, 2, 75.0)
    assert before["average_over_target"] is True
    assert (after["target_stay_days"], after["ongoing_stays"], after["average_days"]) == (10, 1, 20.0)


def test_a_young_person_steps_up_then_down_through_three_schemes_in_one_journey(referral, placement, journeys):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "lancaster")
    lodgings = team.scheme("Lune Supported Lodgings", "supported_lodgings", "progression", "low")
    core = team.scheme("Castle Hill Core 24/7", "core_24_7", "specialist", "high")
    cluster = team.scheme("Quayside Cluster Flats", "cluster_unit", "move_on", "low")
    case = worker.refer("lancaster", days_ago(90))
    worker.allocate(case["case_id"], days_ago(85))

    placed = team.start(case["case_id"], lodgings, days_ago(80), after=worker.position)
    wrong_way = placement.post(f"/placements/{placed['placement_id']}/moves", json={
        "to_scheme_id": core, "direction": "step_down", "planned": True, "occurred_at": days_ago(60).isoformat()})
    assert wrong_way.status_code == 422 and wrong_way.json()["detail"][0]["type"] == "MoveInTheWrongDirection"
    team.change(placed["placement_id"], "moves", to_scheme_id=core, direction="step_up", planned=False,
                reason="needs_increased", occurred_at=days_ago(60))
    team.change(placed["placement_id"], "moves", to_scheme_id=cluster, direction="step_down", planned=True,
                overlap_until=night(17), occurred_at=days_ago(20))

    journey = journey_of(journeys, case["case_id"], team.position)
    placement_steps = [step for step in journey["steps"] if step["service"] == "placement"]
    assert [(s["event_type"], s["facts"]["scheme_id"], s["facts"].get("direction")) for s in placement_steps] == [
        ("PlacementStarted", lodgings, None), ("PlacementMoved", core, "step_up"),
        ("PlacementMoved", cluster, "step_down")]
    assert placement_steps[2]["facts"]["overlap_until"] == night(17)
    assert (placement_steps[1]["facts"]["reason"], placement_steps[2]["facts"]["reason"]) == ("needs_increased", None)
    current = placement.get(f"/young-people/{case['person_ref']}/placement").json()
    assert [stay["scheme_id"] for stay in current["stays"]] == [lodgings, core, cluster]
    assert (current["scheme_id"], current["days_in_scheme"], current["days_in_placement"]) == (cluster, 20, 80)
    core_nights = placement.get(f"/schemes/{core}/occupancy", params={"first_night": night(21),
                                                                      "last_night": night(16)}).json()
    assert [n["let"] for n in core_nights["nights"]] == [1, 1, 1, 1, 0, 0]  # held over until the overlap ended


def test_a_case_allocated_a_service_awaits_a_placement_until_one_starts(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "fylde")
    foyer = team.scheme("Fylde Foyer", "foyer", "progression", "medium")
    case = worker.refer("fylde", days_ago(20))
    worker.allocate(case["case_id"], days_ago(10))

    awaiting = placement.get("/cases-awaiting-placement", params={"district": "fylde", "after": worker.position})
    team.start(case["case_id"], foyer, days_ago(3), after=worker.position)
    placed = placement.get("/cases-awaiting-placement", params={"district": "fylde", "after": team.position})

    assert [(c["case_id"], c["days_waiting"]) for c in awaiting.json()["cases"]] == [(case["case_id"], 10)]
    assert placed.json()["cases"] == []


def test_a_placement_for_an_unknown_closed_or_unallocated_case_is_refused(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "chorley")
    foyer = team.scheme("Chorley Foyer", "foyer", "progression", "medium")
    closed = worker.refer("chorley", days_ago(20))
    worker.allocate(closed["case_id"], days_ago(10))
    worker.record(closed["case_id"], "closure", days_ago(5), reason="disengaged")
    unallocated = worker.refer("chorley", days_ago(20))
    before = placement.get("/health", params={"fresh": "true"}).json()["store_position"]

    def start(case_id: str) -> httpx.Response:
        return placement.post("/placements", params={"after": worker.position}, json={
            "case_id": case_id, "scheme_id": foyer, "route": "panel", "occurred_at": days_ago(1).isoformat()})

    unknown, refused_closed, refused_unallocated = start(NIL), start(closed["case_id"]), start(
        unallocated["case_id"])

    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "case_id"]
    assert refused_closed.status_code == 409 and refused_closed.json()["detail"][0]["type"] == "CaseIsClosed"
    assert refused_unallocated.status_code == 409
    assert refused_unallocated.json()["detail"][0]["type"] == "NoPanelAllocation"
    assert placement.get("/health", params={"fresh": "true"}).json()["store_position"] == before


def test_vacancies_now_by_district_stage_and_support_level(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "pendle")
    emergency = team.scheme("Pendle Emergency Beds", "emergency_assessment_bed", "assessment", "high", units=2)
    foyer = team.scheme("Pendle Foyer", "foyer", "progression", "medium", units=3)
    for case in [worker.refer("pendle", days_ago(5)) for _ in range(2)]:
        team.start(case["case_id"], emergency, days_ago(2), after=worker.position, route="emergency")

    every = placement.get("/vacancies", params={"district": "pendle", "after": team.position}).json()
    high = placement.get("/vacancies", params={"district": "pendle", "support_level": "high"}).json()
    progression = placement.get("/vacancies", params={"district": "pendle", "pathway_stage": "progression"}).json()
    listed = placement.get("/schemes", params={"district": "pendle"}).json()

    assert [(s["scheme_id"], s["vacant"]) for s in every["schemes"]] == [(foyer, 3)]
    assert high["schemes"] == []
    assert [s["scheme_id"] for s in progression["schemes"]] == [foyer]
    assert {s["scheme_id"] for s in listed} == {emergency, foyer}
    health = placement.get("/health", params={"fresh": "true"}).json()
    assert health["status"] == "ok"
    assert health["projection_lag"] == {"known_cases": {"referral": 0}, "placements": {"placement": 0},
                                        "floating_support": {"placement": 0}, "departures": {"placement": 0}}


def test_an_emergency_placement_made_between_panels_is_reported_on_the_next_panel_agenda(referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "somerset")
    crash_pad = team.scheme("Somerset Nightstop", "nightstop", "assessment", "high")
    case = worker.refer("somerset", days_ago(20))
    emergency = team.start(case["case_id"], crash_pad, days_ago(19), after=worker.position, route="emergency")

    before = referral.get("/panel-agenda", params={"district": "somerset", "after": team.position}).json()
    worker.allocate(case["case_id"], days_ago(5))
    after = referral.get("/panel-agenda", params={"district": "somerset", "after": worker.position}).json()

    [reported] = before["emergency_placements_to_report"]
    assert (reported["case_id"], reported["placement_id"]) == (case["case_id"], emergency["placement_id"])
    assert (reported["provision_type"], reported["days_since"]) == ("nightstop", 19)
    assert after["emergency_placements_to_report"] == []


def test_each_route_needs_a_panel_allocation_only_where_the_districts_register_says_so(referral, placement):
    """The shipped register: in Burnley (as everywhere, for now) the panel and placement team routes need a prior
    panel allocation; emergency, pathway plan and children's services placements do not."""
    worker, team = CaseWorker(referral), PlacementTeam(placement, "burnley")
    lodgings = team.scheme("Burnley Lodgings", "supported_lodgings", "progression", "low", units=10)
    crash_pad = team.scheme("Burnley Crash Pad", "emergency_assessment_bed", "assessment", "high", units=10)
    tenancy = team.scheme("Burnley Move-On Flats", "social_tenancy", "move_on", "low", units=10)
    cases = {route: worker.refer("burnley", days_ago(20)) for route in (
        "panel", "placement_team", "emergency", "children_services")}
    cases["pathway_plan"] = worker.refer("burnley", days_ago(20), age=19, cohort="care_leaver",
                                         gateway="leaving_care_team")

    def start(route: str, scheme_id: str) -> httpx.Response:
        return placement.post("/placements", params={"after": worker.position}, json={
            "case_id": cases[route]["case_id"], "scheme_id": scheme_id, "route": route,
            "occurred_at": days_ago(10).isoformat()})

    refused = {route: start(route, lodgings) for route in ("panel", "placement_team")}
    made = {"emergency": start("emergency", crash_pad), "pathway_plan": start("pathway_plan", tenancy),
            "children_services": start("children_services", lodgings)}
    worker.allocate(cases["panel"]["case_id"], days_ago(12))
    worker.allocate(cases["placement_team"]["case_id"], days_ago(12))
    made |= {route: start(route, lodgings) for route in ("panel", "placement_team")}

    assert {route: (r.status_code, r.json()["detail"][0]["type"]) for route, r in refused.items()} == {
        "panel": (409, "NoPanelAllocation"), "placement_team": (409, "NoPanelAllocation")}
    assert {route: r.status_code for route, r in made.items()} == dict.fromkeys(made, 201), [
        r.text for r in made.values()]
    routes = {route: placement.get(f"/placements/{r.json()['placement_id']}").json()["route"]
              for route, r in made.items()}
    assert routes == {route: route for route in made}


def test_whether_the_placement_team_needs_a_panel_is_each_districts_own_rule(referral, placement):
    """The shipped register: Lancashire's placement team places only after a panel allocation, Kent's without
    one (illustrative rules, one file, no code). The same request is refused in West Lancashire and made in
    Ashford."""
    worker = CaseWorker(referral)
    answers = {}
    for district in ("west-lancashire", "ashford"):
        team = PlacementTeam(placement, district)
        foyer = team.scheme(f"{district} Foyer", "foyer", "progression", "medium", units=5)
        case = worker.refer(district, days_ago(20))
        answers[district] = placement.post("/placements", params={"after": worker.position}, json={
            "case_id": case["case_id"], "scheme_id": foyer, "route": "placement_team",
            "occurred_at": days_ago(10).isoformat()})

    assert answers["west-lancashire"].status_code == 409, answers["west-lancashire"].text
    assert answers["west-lancashire"].json()["detail"][0]["type"] == "NoPanelAllocation"
    assert answers["ashford"].status_code == 201, answers["ashford"].text
    made = placement.get(f"/placements/{answers['ashford'].json()['placement_id']}").json()
    assert made["route"] == "placement_team"


def test_a_looked_after_17_year_old_is_placed_only_in_supported_accommodation_registered_with_ofsted(
        referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "ribble-valley")
    unregistered = team.scheme("Valley Supported Housing", "young_peoples_supported_accommodation", "progression",
                               "medium")
    registered = team.scheme("Clitheroe Supported Housing", "young_peoples_supported_accommodation",
                             "progression", "medium")
    recorded = placement.post(f"/schemes/{registered}/ofsted-registrations", json={
        "registration_number": "2754321", "registered_from": night(200)})
    assert recorded.status_code == 200, recorded.text
    case = worker.refer("ribble-valley", days_ago(20), cohort="looked_after_16_17", gateway="childrens_services")
    known = placement.get(f"/cases/{case['case_id']}", params={"after": worker.position}).json()
    assert (known["legal_status"], known["under_18"]) == ("looked_after_section_20", True)

    def start(scheme_id: str) -> httpx.Response:
        return placement.post("/placements", params={"after": worker.position}, json={
            "case_id": case["case_id"], "scheme_id": scheme_id, "route": "children_services",
            "occurred_at": days_ago(10).isoformat()})

    refused = start(unregistered)
    accepted = start(registered)

    assert refused.status_code == 409 and refused.json()["detail"][0]["type"] == "UnregisteredSupportedAccommodation"
    assert accepted.status_code == 201, accepted.text
    assert placement.get(f"/schemes/{unregistered}").json()["let"] == 0
