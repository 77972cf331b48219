"""The placement routes on a bare FastAPI app: the router and the in-memory store, no NATS, no lifespan.

The reads that come from the read models are tested on PostgreSQL in test_placement_read_model.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.placement.api import router
from services.placement.application import Placements
from shared.contracts import parse_event
from shared.contracts.vocabulary import Cohort, LegalStatus
from shared.errors import map_domain_errors
from shared.service import ServiceRuntime
from shared.web import today_utc

from .placement_builders import (
    BED_AND_BREAKFAST,
    EMERGENCY,
    TODAY,
    Catalogue,
    days_ago,
    in_memory_placements,
    night,
)
from .tokens import bearer, trusting_test_tokens


@dataclass
class StandInRunner:
    """A projection runner that has applied the referral store's events up to `position`."""

    position: int
    source_service: str = "referral"
    projection: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="known_cases"))

    blocked: str | None = None
    source: None = None

    async def wait_for(self, source_position: int, timeout: float) -> bool:
        return source_position <= self.position


@dataclass
class StandInRuntime:
    """What the placement routes that do not read the read models use from a ServiceRuntime."""

    store: Placements
    runners: list[StandInRunner] = field(default_factory=list)
    settings: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(read_wait_seconds=0.01))

    vitals: None = None
    wait_for_positions = ServiceRuntime.wait_for_positions  # the real waiting, on these stand-ins
    _until_reached = ServiceRuntime._until_reached
    why_stuck = ServiceRuntime.why_stuck

    def saved(self, position: int) -> str:
        return f"placement:{position}"


@pytest.fixture
def store() -> Placements:
    return in_memory_placements()


@pytest.fixture
def runtime(store) -> StandInRuntime:
    return StandInRuntime(store, runners=[StandInRunner(position=7)])


@pytest.fixture
def client(runtime) -> TestClient:
    app = FastAPI()
    map_domain_errors(app)  # as service_app does: the routes map no error themselves
    app.include_router(router)
    app.state.runtime = runtime
    app.dependency_overrides[today_utc] = lambda: TODAY
    return TestClient(trusting_test_tokens(app), headers=bearer("admin"))


@pytest.fixture
def catalogue(store) -> Catalogue:
    return Catalogue(store)


def start_body(case_id: UUID, scheme_id: UUID, days: int = 10, **overrides: Any) -> dict:
    return {"case_id": str(case_id), "scheme_id": str(scheme_id), "route": "panel",
            "occurred_at": days_ago(days).isoformat()} | overrides


def started(client, case_id, scheme_id, days: int = 10, route: str = "panel") -> str:
    response = client.post("/placements", json=start_body(case_id, scheme_id, days, route=route))
    assert response.status_code == 201, response.text
    return response.json()["placement_id"]


def error_types(response) -> list[str]:
    return [error["type"] for error in response.json()["detail"]]


# -- the catalogue --------------------------------------------------------------------------------


def a_provider(client) -> str:
    return client.post("/providers", json={"name": "Example YMCA", "district": "lancaster"}).json()["provider_id"]


def a_scheme_body(provider_id: str, **overrides: Any) -> dict:
    return {"provider_id": provider_id, "name": "Hilltop Foyer", "district": "lancaster", "provision_type": "foyer",
            "pathway_stage": "progression", "support_level": "medium", "support_hours_per_week": 8,
            "capacity_units": 12, "opened_on": "2025-01-01"} | overrides


def test_providers_and_schemes_are_registered_and_a_scheme_shows_its_units_tonight(client, store):
    provider = client.post("/providers", json={"name": "Example YMCA", "district": "lancaster"})
    assert provider.status_code == 201, provider.text

    response = client.post("/schemes", json=a_scheme_body(provider.json()["provider_id"]))

    assert response.status_code == 201, response.text
    scheme = client.get(f"/schemes/{response.json()['scheme_id']}").json()
    assert (scheme["capacity"], scheme["let"], scheme["vacant"]) == (12, 0, 12)
    assert response.json()["position"] == f"placement:{store.position()}"


def test_a_scheme_has_its_own_stay_limits_changed_from_a_day_on(client, store):
    provider_id = a_provider(client)
    written = client.post("/schemes", json=a_scheme_body(provider_id, provision_type="emergency_assessment_bed",
                                                         pathway_stage="assessment", max_stay_days=120))
    scheme_id = written.json()["scheme_id"]

    changed = client.post(f"/schemes/{scheme_id}/stay-limits", json={
        "max_stay_days": 91, "target_stay_days": 42, "effective_from": night(-7).isoformat()})
    backwards = client.post(f"/schemes/{scheme_id}/stay-limits", json={
        "max_stay_days": 60, "target_stay_days": None, "effective_from": night(0).isoformat()})
    target_over_maximum = client.post(f"/schemes/{scheme_id}/stay-limits", json={
        "max_stay_days": 30, "target_stay_days": 60, "effective_from": night(-8).isoformat()})

    assert changed.status_code == 200, changed.text
    scheme = client.get(f"/schemes/{scheme_id}").json()
    assert (scheme["max_stay_days"], scheme["target_stay_days"]) == (120, None)  # tonight: the registration's
    assert scheme["stay_limits"] == [
        {"effective_from": "2025-01-01", "max_stay_days": 120, "target_stay_days": None},
        {"effective_from": night(-7).isoformat(), "max_stay_days": 91, "target_stay_days": 42}]
    assert backwards.status_code == 422 and error_types(backwards) == ["StayLimitsChangeBeforeTheLastOne"]
    assert target_over_maximum.status_code == 422 and error_types(target_over_maximum) == [
        "TargetStayLongerThanMaximum"]


@pytest.mark.parametrize(("change", "location", "refusal"), [
    ({"provider_id": str(uuid4())}, ["body", "provider_id"], "UnknownProvider"),
    ({"district": "atlantis"}, ["body", "district"], "UnknownDistrict"),
    ({"provision_type": "castle"}, ["body", "provision_type"], "enum"),
    ({"capacity_units": 0}, ["body", "capacity_units"], "greater_than_equal"),
    ({"max_stay_days": 30, "target_stay_days": 60}, ["body"], "TargetStayLongerThanMaximum"),
], ids=["unknown provider", "unknown district", "unknown provision type", "no units", "target over maximum"])
def test_a_scheme_breaking_a_rule_is_refused_naming_the_field_and_stores_nothing(client, store, change, location,
                                                                                 refusal):
    provider_id = a_provider(client)
    before = store.position()

    response = client.post("/schemes", json=a_scheme_body(provider_id) | change)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (location, refusal)
    assert store.position() == before


def test_occupancy_per_night_gives_capacity_let_voids_and_utilisation(client, catalogue):
    scheme_id = catalogue.scheme(capacity_units=2)
    first, second = catalogue.case(), catalogue.case()
    started(client, first.case_id, scheme_id, days=3)
    placement_id = started(client, second.case_id, scheme_id, days=2)
    client.post(f"/placements/{placement_id}/ending", json={"occurred_at": days_ago(1).isoformat(), "planned": True,
                                                             "destination": "friends_or_family"})

    response = client.get(f"/schemes/{scheme_id}/occupancy",
                          params={"first_night": night(4).isoformat(), "last_night": night(0).isoformat()})

    occupancy = response.json()
    assert [(n["capacity"], n["let"], n["void"]) for n in occupancy["nights"]] == [
        (2, 0, 2), (2, 1, 1), (2, 2, 0), (2, 1, 1), (2, 1, 1)]
    assert (occupancy["unit_nights"], occupancy["let_unit_nights"], occupancy["void_unit_nights"]) == (10, 5, 5)
    assert occupancy["utilisation_percent"] == 50.0


def test_an_occupancy_range_backwards_or_over_a_year_is_refused(client, catalogue):
    scheme_id = catalogue.scheme()

    backwards = client.get(f"/schemes/{scheme_id}/occupancy", params={"first_night": "2026-02-01",
                                                                      "last_night": "2026-01-01"})
    too_long = client.get(f"/schemes/{scheme_id}/occupancy", params={"first_night": "2024-01-01",
                                                                     "last_night": "2026-01-01"})

    assert backwards.status_code == too_long.status_code == 422


def test_capacity_cannot_be_cut_below_the_units_let(client, catalogue):
    scheme_id = catalogue.scheme(capacity_units=2)
    started(client, catalogue.case().case_id, scheme_id)
    started(client, catalogue.case().case_id, scheme_id)

    cut = client.post(f"/schemes/{scheme_id}/capacity", json={"units": 1, "effective_from": TODAY.isoformat()})
    grown = client.post(f"/schemes/{scheme_id}/capacity", json={"units": 3, "effective_from": TODAY.isoformat()})

    assert cut.status_code == 409 and error_types(cut) == ["CapacityBelowOccupancy"]
    assert grown.status_code == 200
    assert client.get(f"/schemes/{scheme_id}").json()["vacant"] == 1


# -- placements -----------------------------------------------------------------------------------


def test_a_placement_starts_for_a_known_case_and_is_the_young_persons_current_placement(client, store, catalogue):
    scheme_id, case = catalogue.scheme(), catalogue.case(district="chorley")

    response = client.post("/placements", json=start_body(case.case_id, scheme_id, days=5),
                           headers=bearer("childrens_services", subject="placement-officer-7"))

    assert response.status_code == 201, response.text
    written = response.json()
    assert (written["case_id"], written["person_ref"]) == (str(case.case_id), str(case.person_ref))
    current = client.get(f"/young-people/{case.person_ref}/placement").json()
    assert (current["placement_id"], current["status"], current["scheme_id"]) == (
        written["placement_id"], "open", str(scheme_id))
    assert (current["district"], current["days_in_scheme"], current["placement_number"]) == ("chorley", 5, 1)
    events = [parse_event(n.state) for n in store.recorder.select_notifications(1, 100)]
    assert [e.event_type for e in events][-2:] == ["PlacementStarted", "UnitAllocated"]
    assert {e.actor for e in events[-2:]} == {"placement-officer-7"}


def test_a_young_person_in_no_placement_has_no_current_placement(client):
    assert client.get(f"/young-people/{uuid4()}/placement").status_code == 404
    assert client.get(f"/placements/{uuid4()}").status_code == 404


def test_a_placement_for_an_unknown_case_or_scheme_is_refused_naming_the_field(client, store, catalogue):
    scheme_id, case = catalogue.scheme(), catalogue.case()
    before = store.position()

    unknown_case = client.post("/placements", json=start_body(uuid4(), scheme_id))
    unknown_scheme = client.post("/placements", json=start_body(case.case_id, uuid4()))

    assert unknown_case.status_code == unknown_scheme.status_code == 422
    assert unknown_case.json()["detail"][0]["loc"] == ["body", "case_id"]
    assert unknown_scheme.json()["detail"][0]["loc"] == ["body", "scheme_id"]
    assert store.position() == before


@pytest.mark.parametrize(("case", "refusal"), [
    ({"open": False}, "CaseIsClosed"),
    ({"allocated": False}, "NoPanelAllocation"),
], ids=["closed case", "no panel allocation"])
def test_a_placement_that_does_not_fit_the_case_is_a_conflict(client, store, catalogue, case, refusal):
    scheme_id, known = catalogue.scheme(), catalogue.case(**case)
    before = store.position()

    response = client.post("/placements", json=start_body(known.case_id, scheme_id))

    assert response.status_code == 409 and error_types(response) == [refusal]
    assert store.position() == before


def test_an_emergency_placement_can_be_made_before_the_panel_decides(client, catalogue):
    emergency_id, case = catalogue.scheme(**EMERGENCY), catalogue.case(allocated=False)

    response = client.post("/placements", json=start_body(case.case_id, emergency_id, route="emergency"))

    assert response.status_code == 201, response.text
    assert client.get(f"/placements/{response.json()['placement_id']}").json()["route"] == "emergency"


def test_a_placement_in_a_full_scheme_is_a_conflict_and_stores_nothing(client, store, catalogue):
    scheme_id = catalogue.scheme(capacity_units=1)
    started(client, catalogue.case().case_id, scheme_id)
    late = catalogue.case()
    before = store.position()

    response = client.post("/placements", json=start_body(late.case_id, scheme_id))

    assert response.status_code == 409 and error_types(response) == ["PlacementWouldExceedCapacity"]
    assert store.position() == before and store.placements_of(late.person_ref) == []


def test_overlapping_placements_for_the_same_young_person_are_refused(client, store, catalogue):
    case = catalogue.case()
    first = started(client, case.case_id, catalogue.scheme(), days=20)

    again = client.post("/placements", json=start_body(case.case_id, catalogue.scheme(), days=5))
    client.post(f"/placements/{first}/ending", json={"occurred_at": days_ago(10).isoformat(), "planned": True,
                                                     "destination": "friends_or_family"})
    overlapping = client.post("/placements", json=start_body(case.case_id, catalogue.scheme(), days=12))
    after = client.post("/placements", json=start_body(case.case_id, catalogue.scheme(), days=9))

    assert again.status_code == 409 and error_types(again) == ["YoungPersonAlreadyPlaced"]
    assert overlapping.status_code == 409 and error_types(overlapping) == ["PlacementsWouldOverlap"]
    assert after.status_code == 201
    assert [p.number for p in store.placements_of(case.person_ref)] == [1, 2]


def test_a_planned_overlap_on_a_move_is_explicit_and_holds_both_units_until_it_ends(client, catalogue):
    leaving, to = catalogue.scheme(), catalogue.scheme()
    placement_id = started(client, catalogue.case().case_id, leaving, days=20)

    unplanned = client.post(f"/placements/{placement_id}/moves", json={
        "occurred_at": days_ago(5).isoformat(), "to_scheme_id": str(to), "direction": "lateral",
        "planned": False, "reason": "scheme_closed", "overlap_until": night(2).isoformat()})
    planned = client.post(f"/placements/{placement_id}/moves", json={
        "occurred_at": days_ago(5).isoformat(), "to_scheme_id": str(to), "direction": "lateral",
        "planned": True, "overlap_until": night(2).isoformat()})

    assert unplanned.status_code == 422 and error_types(unplanned) == ["OverlapMustBePlanned"]
    assert planned.status_code == 200, planned.text
    held = client.get(f"/schemes/{leaving}/occupancy", params={"first_night": night(5).isoformat(),
                                                               "last_night": night(2).isoformat()}).json()
    assert [n["let"] for n in held["nights"]] == [1, 1, 1, 0]
    assert client.get(f"/placements/{placement_id}").json()["scheme_id"] == str(to)


def test_a_provider_moves_young_people_between_its_own_schemes_only(client, store, catalogue):
    ours, also_ours = catalogue.scheme(), catalogue.scheme()
    other_provider, _ = store.register_provider(catalogue.context, name="Another Trust", district="preston",
                                                occurred_at=days_ago(500))
    theirs = Catalogue(store, provider_id=other_provider.id).scheme()
    placement_id = started(client, catalogue.case().case_id, ours, days=20)
    as_provider = bearer("provider", subject="foyer-staff-1", provider=str(catalogue.provider()))
    before = store.position()

    def move(to: UUID):
        return client.post(f"/placements/{placement_id}/moves", headers=as_provider, json={
            "occurred_at": days_ago(2).isoformat(), "to_scheme_id": str(to), "direction": "lateral", "planned": True})

    refused = move(theirs)
    assert refused.status_code == 403 and store.position() == before
    assert client.get(f"/placements/{placement_id}").json()["scheme_id"] == str(ours)
    assert move(also_ours).status_code == 200


def test_a_move_into_a_full_scheme_is_a_conflict_and_stores_nothing(client, store, catalogue):
    leaving, full = catalogue.scheme(), catalogue.scheme(capacity_units=1)
    placement_id = started(client, catalogue.case().case_id, leaving, days=20)
    started(client, catalogue.case().case_id, full, days=20)
    before = store.position()

    response = client.post(f"/placements/{placement_id}/moves", json={
        "occurred_at": days_ago(2).isoformat(), "to_scheme_id": str(full), "direction": "lateral", "planned": True})

    assert response.status_code == 409 and error_types(response) == ["PlacementWouldExceedCapacity"]
    assert store.position() == before
    assert client.get(f"/placements/{placement_id}").json()["scheme_id"] == str(leaving)


def test_a_move_to_a_scheme_not_in_the_catalogue_is_refused_naming_the_field(client, catalogue):
    placement_id = started(client, catalogue.case().case_id, catalogue.scheme())

    response = client.post(f"/placements/{placement_id}/moves", json={
        "occurred_at": days_ago(2).isoformat(), "to_scheme_id": str(uuid4()), "direction": "lateral",
        "planned": True})

    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "to_scheme_id"]


def test_ending_a_placement_before_it_started_is_refused_and_stores_nothing(client, store, catalogue):
    placement_id = started(client, catalogue.case().case_id, catalogue.scheme(), days=5)
    before = store.position()

    response = client.post(f"/placements/{placement_id}/ending", json={
        "occurred_at": days_ago(6).isoformat(), "planned": True, "destination": "social_rented"})

    assert response.status_code == 422 and error_types(response) == ["PlacementEndsBeforeItStarted"]
    assert store.position() == before


def test_a_destination_outside_the_taxonomy_is_refused_naming_the_field(client, store, catalogue):
    placement_id = started(client, catalogue.case().case_id, catalogue.scheme(), days=5)
    before = store.position()

    response = client.post(f"/placements/{placement_id}/ending", json={
        "occurred_at": days_ago(1).isoformat(), "planned": True, "destination": "a_castle"})

    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "destination"]
    assert store.position() == before


def test_a_placement_ends_with_a_move_on_and_takes_no_more_changes(client, catalogue):
    placement_id = started(client, catalogue.case().case_id, catalogue.scheme(), days=30)

    ended = client.post(f"/placements/{placement_id}/ending", json={
        "occurred_at": days_ago(2).isoformat(), "planned": True, "destination": "social_rented"})
    again = client.post(f"/placements/{placement_id}/breakdown", json={
        "occurred_at": days_ago(1).isoformat(), "reason": "young_person_left"})

    assert ended.status_code == 200
    view = client.get(f"/placements/{placement_id}").json()
    assert view["status"] == "ended" and view["ending"] == {"kind": "ended", "planned": True,
                                                           "destination": "social_rented", "reason": None}
    assert view["days_in_placement"] == 28
    assert again.status_code == 409 and error_types(again) == ["PlacementAlreadyEnded"]


def test_a_breakdown_is_recorded_with_its_reason(client, catalogue):
    placement_id = started(client, catalogue.case().case_id, catalogue.scheme(), days=30)

    response = client.post(f"/placements/{placement_id}/breakdown", json={
        "occurred_at": days_ago(3).isoformat(), "reason": "evicted_by_provider"})
    bad_reason = client.post(f"/placements/{placement_id}/breakdown", json={
        "occurred_at": days_ago(3).isoformat(), "reason": "bad_luck"})

    assert response.status_code == 200
    assert client.get(f"/placements/{placement_id}").json()["ending"] == {
        "kind": "broke_down", "planned": False, "destination": "not_known", "reason": "evicted_by_provider"}
    assert bad_reason.status_code == 422


def test_bed_and_breakfast_nights_only_on_a_bed_and_breakfast_placement(client, store, catalogue):
    foyer_placement = started(client, catalogue.case().case_id, catalogue.scheme(), days=10)
    bed_and_breakfast = started(client, catalogue.case(allocated=False).case_id,
                                catalogue.scheme(**BED_AND_BREAKFAST), days=10, route="emergency")
    before = store.position()

    refused = client.post(f"/placements/{foyer_placement}/bed-and-breakfast-nights",
                          json={"first_night": night(9).isoformat(), "nights": 2})
    assert refused.status_code == 409 and error_types(refused) == ["NotABedAndBreakfastPlacement"]
    assert store.position() == before

    counted = client.post(f"/placements/{bed_and_breakfast}/bed-and-breakfast-nights",
                          json={"first_night": night(10).isoformat(), "nights": 4})
    assert counted.status_code == 200
    assert client.get(f"/placements/{bed_and_breakfast}").json()["bed_and_breakfast_nights"] == 4


def test_a_start_waits_for_a_referral_position_and_refuses_one_it_does_not_follow(client, catalogue):
    scheme_id, case = catalogue.scheme(), catalogue.case()
    body = start_body(case.case_id, scheme_id)

    not_followed = client.post("/placements", params={"after": "finance:3"}, json=body)
    not_reached = client.post("/placements", params={"after": "referral:8"}, json=body)
    reached = client.post("/placements", params={"after": "referral:7"}, json=body)

    assert not_followed.status_code == 422
    assert not_reached.status_code == 503 and not_reached.headers["Retry-After"] == "1"
    assert reached.status_code == 201


def test_every_malformed_field_of_a_start_is_listed_at_once(client, store):
    response = client.post("/placements", json={"case_id": "not-a-uuid", "occurred_at": "2026-01-01T10:00:00",
                                                "name": "Jo"})

    assert response.status_code == 422
    assert sorted(tuple(e["loc"]) for e in response.json()["detail"]) == [
        ("body", "case_id"), ("body", "name"), ("body", "occurred_at"), ("body", "route"), ("body", "scheme_id")]
    assert store.position() == 0


def test_a_stay_limit_or_date_out_of_range_is_refused_not_crashed_on(client, store):
    provider_id = a_provider(client)
    position = store.position()

    huge = client.post("/schemes", json=a_scheme_body(provider_id, max_stay_days=10**12))
    ancient = client.post("/schemes", json=a_scheme_body(provider_id, occurred_at="0001-01-01T00:00:00+14:00"))

    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["body", "max_stay_days"]
    assert ancient.status_code == 422 and ancient.json()["detail"][0]["loc"] == ["body", "occurred_at"]
    assert store.position() == position


# -- issue 11: routes, Ofsted registration, move direction and reasons -----------------------------


def test_an_unregistered_placement_is_refused_and_the_same_into_a_registered_scheme_accepted(client, store,
                                                                                             catalogue):
    unregistered, registered = catalogue.scheme(), catalogue.scheme()
    case = catalogue.case(cohort=Cohort.looked_after_16_17, legal_status=LegalStatus.looked_after_section_20,
                          under_18=True)
    recorded = client.post(f"/schemes/{registered}/ofsted-registrations", json={
        "registration_number": "2712345", "registered_from": night(100).isoformat()})
    before = store.position()

    refused = client.post("/placements", json=start_body(case.case_id, unregistered, route="placement_team"))
    assert refused.status_code == 409 and error_types(refused) == ["UnregisteredSupportedAccommodation"]
    assert store.position() == before

    accepted = client.post("/placements", json=start_body(case.case_id, registered, route="placement_team"))
    assert recorded.status_code == 200 and accepted.status_code == 201, accepted.text
    scheme = client.get(f"/schemes/{registered}").json()
    assert scheme["registered_with_ofsted_tonight"] and scheme["ofsted_registrations"] == [
        {"registration_number": "2712345", "registered_from": night(100).isoformat(), "registered_until": None}]


def test_an_ofsted_registration_ends_from_a_day_and_a_malformed_number_is_refused(client, catalogue):
    scheme_id = catalogue.scheme()
    client.post(f"/schemes/{scheme_id}/ofsted-registrations", json={
        "registration_number": "2712345", "registered_from": night(100).isoformat()})

    ended = client.post(f"/schemes/{scheme_id}/ofsted-registrations/2712345/ending",
                        json={"ended_on": night(1).isoformat()})
    unknown = client.post(f"/schemes/{scheme_id}/ofsted-registrations/2799999/ending",
                          json={"ended_on": night(1).isoformat()})
    malformed = client.post(f"/schemes/{scheme_id}/ofsted-registrations", json={
        "registration_number": "Jo Bloggs", "registered_from": night(1).isoformat()})

    assert ended.status_code == 200 and not client.get(f"/schemes/{scheme_id}").json()["registered_with_ofsted_tonight"]
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "registration_number"]
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"] == ["body", "registration_number"]


def test_a_route_outside_the_vocabulary_or_an_emergency_outside_assessment_is_refused(client, store, catalogue):
    scheme_id, case = catalogue.scheme(), catalogue.case()

    unknown = client.post("/placements", json=start_body(case.case_id, scheme_id, route="friendly_neighbour"))
    emergency = client.post("/placements", json=start_body(case.case_id, scheme_id, route="emergency"))

    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "route"]
    assert emergency.status_code == 422 and error_types(emergency) == ["EmergencyPlacementOutsideAssessment"]
    assert store.position() == 0 or store.placements_of(case.person_ref) == []


def test_a_move_in_the_wrong_direction_or_unplanned_without_a_reason_is_refused_and_stores_nothing(
        client, store, catalogue):
    leaving = catalogue.scheme(support_level="medium", support_hours_per_week=10.0)
    more = catalogue.scheme(support_level="high", support_hours_per_week=20.0)
    placement_id = started(client, catalogue.case().case_id, leaving, days=20)
    before = store.position()

    def move(**body):
        return client.post(f"/placements/{placement_id}/moves", json={
            "occurred_at": days_ago(2).isoformat(), "to_scheme_id": str(more)} | body)

    wrong_way = move(direction="step_down", planned=True)
    no_reason = move(direction="step_up", planned=False)
    assert wrong_way.status_code == 422 and error_types(wrong_way) == ["MoveInTheWrongDirection"]
    assert wrong_way.json()["detail"][0]["loc"] == ["body", "direction"]
    assert no_reason.status_code == 422 and error_types(no_reason) == ["UnplannedMoveNeedsAReason"]
    assert store.position() == before

    assert move(direction="step_up", planned=False, reason="needs_increased").status_code == 200
    [moved] = [parse_event(n.state) for n in store.recorder.select_notifications(1, 100)
               if b'"PlacementMoved"' in n.state]
    assert (moved.direction, moved.reason, moved.schema_version) == ("step_up", "needs_increased", 2)
