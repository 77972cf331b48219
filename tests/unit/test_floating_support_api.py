"""The floating support routes on a bare FastAPI app with the in-memory store (the read-model routes are tested
on PostgreSQL in test_floating_support_read_model.py)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.placement.api import router
from services.placement.application import Placements
from shared.contracts.placement_vocabulary import PlacementRoute
from shared.errors import map_domain_errors
from shared.web import today_utc

from .floating_support_builders import a_floating_support_scheme
from .placement_builders import TODAY, Catalogue, days_ago, in_memory_placements
from .test_placement_api import StandInRunner, StandInRuntime
from .tokens import bearer, trusting_test_tokens

PANEL = PlacementRoute.panel



@pytest.fixture
def store() -> Placements:
    return in_memory_placements()


@pytest.fixture
def client(store) -> TestClient:
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = StandInRuntime(store, runners=[StandInRunner(position=7)])
    app.dependency_overrides[today_utc] = lambda: TODAY
    return TestClient(trusting_test_tokens(app), headers=bearer("admin"))


@pytest.fixture
def catalogue(store) -> Catalogue:
    return Catalogue(store)


def error_types(response) -> list[str]:
    return [error["type"] for error in response.json()["detail"]]


def test_floating_support_is_started_read_and_ended_over_http(client, store, catalogue):
    support, case = a_floating_support_scheme(catalogue), catalogue.case()

    started = client.post("/floating-support", json={"case_id": str(case.case_id), "scheme_id": str(support),
                                                     "occurred_at": days_ago(12).isoformat()})
    episode_id = started.json()["episode_id"]
    current = client.get(f"/young-people/{case.person_ref}/floating-support")
    ended = client.post(f"/floating-support/{episode_id}/ending", json={
        "planned": True, "destination": "remained_in_own_home", "hours_delivered": 20,
        "occurred_at": days_ago(2).isoformat()})
    read = client.get(f"/floating-support/{episode_id}").json()

    assert started.status_code == 201, started.text
    assert started.json()["person_ref"] == str(case.person_ref)
    assert (current.status_code, current.json()["status"], current.json()["days_supported"]) == (200, "open", 12)
    assert ended.status_code == 200, ended.text
    assert ended.json()["position"] == f"placement:{store.position()}"
    assert (read["status"], read["days_supported"], read["ending"]) == (
        "ended", 10, {"planned": True, "destination": "remained_in_own_home", "hours_delivered": 20.0})
    assert client.get(f"/young-people/{case.person_ref}/floating-support").status_code == 404


def test_refusals_are_named_and_store_nothing(client, store, catalogue):
    foyer, support, case = catalogue.scheme(), a_floating_support_scheme(catalogue), catalogue.case()
    before = store.position()

    into_foyer = client.post("/floating-support", json={"case_id": str(case.case_id), "scheme_id": str(foyer),
                                                        "occurred_at": days_ago(3).isoformat()})
    placed_in_support = client.post("/placements", json={"case_id": str(case.case_id), "scheme_id": str(support),
                                                         "occurred_at": days_ago(3).isoformat(), "route": "panel"})
    old_scheme = client.post("/schemes", json={
        "provider_id": str(catalogue.provider()), "name": "Old Words", "district": "preston",
        "provision_type": "visiting_floating_support", "pathway_stage": "progression", "support_level": "low",
        "support_hours_per_week": 2, "capacity_units": 4, "opened_on": "2025-01-01"})

    assert (into_foyer.status_code, error_types(into_foyer)) == (422, ["NotAFloatingSupportScheme"])
    assert into_foyer.json()["detail"][0]["loc"] == ["body", "scheme_id"]
    assert (placed_in_support.status_code, error_types(placed_in_support)) == (
        422, ["FloatingSupportSchemeTakesNoPlacements"])
    assert (old_scheme.status_code, error_types(old_scheme)) == (422, ["ProvisionTypeNoLongerRecorded"])
    assert store.position() == before


def test_a_placement_ending_with_other_or_not_known_is_a_422_naming_the_split(client, store, catalogue):
    case = catalogue.case()
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=catalogue.scheme(),
                                         route=PANEL, occurred_at=days_ago(9))

    response = client.post(f"/placements/{placement.id}/ending", json={
        "planned": False, "destination": "other_or_not_known", "occurred_at": days_ago(1).isoformat()})
    breakdown = client.post(f"/placements/{placement.id}/breakdown", json={
        "reason": "young_person_left", "destination": "other_or_not_known", "occurred_at": days_ago(1).isoformat()})

    assert (response.status_code, error_types(response)) == (422, ["DestinationNoLongerRecorded"])
    assert response.json()["detail"][0]["loc"] == ["body", "destination"]
    assert (breakdown.status_code, error_types(breakdown)) == (422, ["DestinationNoLongerRecorded"])


def test_a_provider_and_a_district_officer_reach_their_own_floating_support_only(client, store, catalogue):
    support, case = a_floating_support_scheme(catalogue), catalogue.case()
    other = Catalogue(store, provider_id=store.register_provider(
        catalogue.context, name="Another Trust", district="preston", occurred_at=days_ago(500))[0].id)
    theirs = a_floating_support_scheme(other, name="Another Floating Support")
    own_provider = bearer("provider", subject="support-worker-1", provider=str(catalogue.provider()))
    body = {"case_id": str(case.case_id), "occurred_at": days_ago(4).isoformat()}

    refused = client.post("/floating-support", headers=own_provider, json=body | {"scheme_id": str(theirs)})
    started = client.post("/floating-support", headers=own_provider, json=body | {"scheme_id": str(support)})
    episode_id = started.json()["episode_id"]
    other_provider = client.get(f"/floating-support/{episode_id}",
                                headers=bearer("provider", subject="x", provider=str(other.provider_id)))
    other_district = client.get(f"/floating-support/{episode_id}",
                                headers=bearer("district_officer", district="burnley"))
    own_district = client.get(f"/floating-support/{episode_id}", headers=bearer("district_officer", district="preston"))

    assert refused.status_code == 403 and started.status_code == 201
    assert (other_provider.status_code, other_district.status_code, own_district.status_code) == (403, 403, 200)
