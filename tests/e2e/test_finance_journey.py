"""Finance over HTTP on the running system: a commissioner contracts a hostel (spot, £280 a week) with a price rise
part-way; a young person is placed there; the cost run publishes what each stay cost per month (CostAccrued) and the
young person's journey in the journeys service carries the cost of their placement. A placement in a scheme no
contract covers is shown unfunded; bad contracts are refused by their rule."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers
from tests.e2e.test_placement_journey import CaseWorker, PlacementTeam, days_ago, journey_of


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


@pytest.fixture
def finance(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["finance"].url, timeout=30,
                      headers=auth_headers(system, role="finance_officer")) as client:
        yield client


def contract(team: PlacementTeam, scheme_id: str, starts: datetime, **overrides) -> dict:
    return {"provider_id": team.provider_id, "name": "Dartford Hostel spot", "procurement": "spot",
            "service_type": "short_term", "scheme_ids": [scheme_id], "starts_on": starts.date().isoformat(),
            "package": {"rent": 14_000, "service_charge": 3_500, "support": 10_500},
            "funding": [{"stream": "housing_related_support", "share": 6_000},
                        {"stream": "housing_benefit", "share": 4_000}], "district": "dartford"} | overrides


def test_a_placement_is_costed_at_each_nights_price_and_its_journey_carries_the_cost(
        referral, placement, finance, journeys):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "dartford")
    hostel = team.scheme("Dartford Hostel", "young_peoples_supported_accommodation", "progression", "medium")
    uncontracted = team.scheme("Dartford Nightstop", "nightstop", "assessment", "low")
    agreed = finance.post("/contracts", json=contract(team, hostel, days_ago(100)))
    assert agreed.status_code == 201, agreed.text
    contract_id = agreed.json()["contract_id"]
    rise = finance.post(f"/contracts/{contract_id}/prices", json={
        "effective_from": days_ago(10).date().isoformat(),
        "package": {"rent": 14_000, "service_charge": 3_500, "support": 17_500}})  # +£1 a night of support
    assert rise.status_code in (200, 201), rise.text

    case = worker.refer("dartford", days_ago(40))
    worker.allocate(case["case_id"], days_ago(35))
    placed = team.start(case["case_id"], hostel, days_ago(30), after=worker.position)
    team.change(placed["placement_id"], "moves", to_scheme_id=uncontracted, direction="step_down", planned=True,
                occurred_at=days_ago(5))
    today = datetime.now(UTC).date()
    with ThreadPoolExecutor(2) as both:  # two cost runs at once: one after the other, never a refused save (a 500)
        run, alongside = both.map(lambda _: finance.post("/cost-run", params={
            "through": today.isoformat(), "after": team.position}), range(2))
    assert run.status_code == alongside.status_code == 200, run.text + alongside.text
    run = max(run, alongside, key=lambda answer: answer.json()["published"])
    assert min(answer.json()["published"] for answer in (run, alongside)) == 0
    again = finance.post("/cost-run", params={"through": today.isoformat()})

    journey = journey_of(journeys, case["case_id"], run.json()["position"])
    costed = {step["event_type"]: step.get("cost") for step in journey["steps"] if step["service"] == "placement"}
    # 25 nights in the hostel: 20 at £40, 5 at £50 (the rise); 6 nights in the Nightstop to tonight: no contract
    assert costed["PlacementStarted"]["pence"] == 20 * 4_000 + 5 * 5_000
    assert costed["PlacementStarted"]["days"] == 25
    assert costed["PlacementMoved"]["pence"] == 0
    assert journey["cost_pence"] == 20 * 4_000 + 5 * 5_000
    assert run.json()["published"] >= 2 and again.json()["published"] == 0

    period = {"first_day": (today - timedelta(days=40)).isoformat(), "last_day": today.isoformat(),
              "district": "dartford"}
    unfunded = finance.get("/unfunded-stays", params=period).json()
    assert [(s["scheme_id"], s["unfunded_nights"]) for s in unfunded if s["case_id"] == case["case_id"]] == [
        (uncontracted, 6)]
    streams = {row["stream"]: row["pence"] for row in finance.get("/costs", params={**period, "by": "stream"})
               .json()["rows"]}
    assert streams["housing_related_support"] + streams["housing_benefit"] >= 105_000
    as_csv = finance.get("/unit-costs", params={**period, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv") and "whole_per_week" in as_csv.text


def test_bad_contracts_are_refused_by_their_rule_and_store_nothing(placement, finance):
    team = PlacementTeam(placement, "gravesham")
    scheme = team.scheme("Gravesham Foyer", "foyer", "progression", "medium")
    not_whole = finance.post("/contracts", json=contract(team, scheme, days_ago(50), funding=[
        {"stream": "leaving_care", "share": 6_000}, {"stream": "housing_benefit", "share": 3_000}]))
    negative = finance.post("/contracts", json=contract(team, scheme, days_ago(50), package={"rent": -1}))
    first = finance.post("/contracts", json=contract(team, scheme, days_ago(50)))
    overlapping = finance.post("/contracts", json=contract(team, scheme, days_ago(20)))
    early_price = finance.post(f"/contracts/{first.json()['contract_id']}/prices", json={
        "effective_from": days_ago(60).date().isoformat(), "package": {"rent": 1}})

    assert not_whole.status_code == 422 and "90%" in not_whole.text
    assert negative.status_code == 422
    assert first.status_code == 201, first.text
    assert overlapping.status_code == 409 and "OverlappingContract" in overlapping.text
    assert early_price.status_code == 422 and "PriceBeforeContract" in early_price.text
    listed = finance.get("/contracts", params={"scheme_id": scheme}).json()
    assert [c["contract_id"] for c in listed] == [first.json()["contract_id"]]
