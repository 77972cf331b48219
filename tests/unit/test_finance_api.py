"""The finance routes on a bare FastAPI app: the router and the in-memory store, no NATS, no lifespan. Every read
comes from the store, so this is the whole of what the routes do: bodies refused with the rule's words, the named
refusals as HTTP answers, and what reads show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.finance.api import router
from services.finance.application import Finance
from shared.errors import map_domain_errors
from shared.web import today_utc

from .finance_builders import TODAY, day, in_memory_finance
from .tokens import bearer, trusting_test_tokens


@dataclass
class StandInRuntime:
    store: Finance

    def saved(self, position: int) -> str:
        return f"finance:{position}"


@pytest.fixture
def store() -> Finance:
    return in_memory_finance()


@pytest.fixture
def client(store) -> TestClient:
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = StandInRuntime(store)
    app.dependency_overrides[today_utc] = lambda: TODAY
    return TestClient(trusting_test_tokens(app), headers=bearer("commissioner"))


def contract_body(**overrides: Any) -> dict[str, Any]:
    return {"provider_id": str(uuid4()), "name": "Hilltop Foyer block", "procurement": "block_gross",
            "contracted_units": 12, "service_type": "short_term", "scheme_ids": [str(uuid4())],
            "starts_on": day(-200).isoformat(), "ends_on": day(300).isoformat(),
            "package": {"rent": 12_000, "service_charge": 3_000, "support": 25_000},
            "funding": [{"stream": "leaving_care", "share": 6_000}, {"stream": "housing_benefit", "share": 4_000}],
            "district": "preston"} | overrides


def agreed(client: TestClient, **overrides: Any) -> str:
    response = client.post("/contracts", json=contract_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["contract_id"]


def test_funding_shares_not_summing_to_100_percent_are_refused_with_the_sum(client, store):
    response = client.post("/contracts", json=contract_body(funding=[{"stream": "leaving_care", "share": 6_000},
                                                                     {"stream": "housing_benefit", "share": 3_000}]))
    assert response.status_code == 422
    [reason] = response.json()["detail"]
    assert reason["loc"] == ["body", "funding"] and "funding shares sum to 90%, not 100%" in reason["msg"]
    assert store.position() == 0


def test_a_negative_price_is_refused(client, store):
    contract_id = agreed(client)
    response = client.post(f"/contracts/{contract_id}/prices",
                           json={"effective_from": day(0).isoformat(), "package": {"rent": -1}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "package", "rent"]


def test_a_contract_its_price_and_funding_changes_and_its_history(client):
    contract_id = agreed(client)
    price = client.post(f"/contracts/{contract_id}/prices", json={
        "effective_from": day(-10).isoformat(), "package": {"rent": 12_500, "service_charge": 3_000,
                                                            "support": 26_000}})
    assert price.status_code == 201 and price.json()["position"].startswith("finance:")
    funding = client.post(f"/contracts/{contract_id}/funding", json={
        "effective_from": day(-5).isoformat(), "funding": [{"stream": "leaving_care", "share": 10_000}]})
    assert funding.status_code == 201, funding.text
    view = client.get(f"/contracts/{contract_id}").json()
    assert [entry["whole"] for entry in view["prices"]] == [40_000, 41_500]
    assert view["package"]["rent"] == 12_500 and view["funding"] == [{"stream": "leaving_care", "share": 10_000}]
    earlier = client.get(f"/contracts/{contract_id}", params={"on": day(-11).isoformat()}).json()
    assert earlier["package"]["rent"] == 12_000 and len(earlier["funding"]) == 2
    assert [c["contract_id"] for c in client.get("/contracts").json()] == [contract_id]


def test_a_price_before_the_contract_and_an_unknown_contract_are_named(client):
    contract_id = agreed(client)
    before = client.post(f"/contracts/{contract_id}/prices",
                         json={"effective_from": day(-201).isoformat(), "package": {"support": 1}})
    assert before.status_code == 422 and before.json()["detail"][0]["type"] == "PriceBeforeContract"
    unknown = client.post(f"/contracts/{uuid4()}/prices",
                          json={"effective_from": day(0).isoformat(), "package": {"support": 1}})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["type"] == "UnknownContract"
    assert client.get(f"/contracts/{uuid4()}").status_code == 404


def test_an_overlapping_contract_is_a_conflict_naming_the_other(client):
    scheme = str(uuid4())
    first = agreed(client, scheme_ids=[scheme])
    response = client.post("/contracts", json=contract_body(scheme_ids=[scheme], starts_on=day(0).isoformat()))
    assert response.status_code == 409
    [reason] = response.json()["detail"]
    assert reason["type"] == "OverlappingContract" and reason["contract_id"] == first and first in reason["msg"]
    assert [c["contract_id"] for c in client.get("/contracts", params={"scheme_id": scheme}).json()] == [first]


def test_budgets_set_and_set_again_are_read_by_financial_year(client):
    body = {"financial_year": 2024, "service_type": "short_term", "amount": 1_000_000, "district": "preston"}
    first = client.post("/budgets", json=body)
    again = client.post("/budgets", json=body | {"amount": 900_000})
    assert first.status_code == again.status_code == 201
    assert first.json()["budget_id"] == again.json()["budget_id"]
    [budget] = client.get("/budgets", params={"financial_year": 2024}).json()
    assert budget["amount"] == 900_000 and [s["amount"] for s in budget["history"]] == [1_000_000, 900_000]


def test_a_fund_spent_down_and_then_overspent(client):
    fund = client.post("/individual-service-funds", json={
        "case_id": str(uuid4()), "person_ref": str(uuid4()), "district": "preston", "amount": 50_000,
        "stream": "leaving_care", "starts_on": day(-30).isoformat(), "ends_on": day(30).isoformat()})
    assert fund.status_code == 201, fund.text
    fund_id = fund.json()["fund_id"]
    spent = client.post(f"/individual-service-funds/{fund_id}/spending",
                        json={"amount": 30_000, "spent_on": day(-1).isoformat(), "purpose": "household_goods"})
    assert spent.status_code == 201 and spent.json()["balance"] == 20_000
    over = client.post(f"/individual-service-funds/{fund_id}/spending",
                       json={"amount": 20_001, "spent_on": day(-1).isoformat(), "purpose": "travel"})
    assert over.status_code == 409 and over.json()["detail"][0]["type"] == "FundOverspent"
    view = client.get(f"/individual-service-funds/{fund_id}").json()
    assert (view["spent"], view["balance"], len(view["spending"])) == (30_000, 20_000, 1)


def test_an_analyst_reads_but_does_not_write(client):
    contract_id = agreed(client)
    analyst = bearer("analyst")
    assert client.get(f"/contracts/{contract_id}", headers=analyst).status_code == 200
    assert client.post("/contracts", json=contract_body(), headers=analyst).status_code == 403
