"""The request guard: body size limits, strict JSON, NUL in URLs, and the headers every answer carries.

First on a small app of its own (what is read, what is handed on), then on the referral and placement apps as
their composition roots build them (routes, idempotency, error handlers; no lifespan, a store put in place)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.placement.bootstrap import build as build_placement
from services.referral.bootstrap import build as build_referral
from shared.request_guard import RequestGuard
from shared.settings import Settings

from .builders import a_referral_body
from .placement_builders import Catalogue, in_memory_placements
from .tokens import bearer, trusting_test_tokens

LIMIT = 1000
NOT_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
UNSTORABLE = {"lone surrogate": "\ud800", "NUL": "A\x00B"}


JSON = {"content-type": "application/json"}


def raw(body: Any) -> bytes:
    """`body` as a client may send it: NaN and Infinity as bare words, surrogates and NUL as \\u escapes."""
    return json.dumps(body).encode()


def locations(response) -> list[list]:
    return [reason["loc"] for reason in response.json()["detail"]]


class Echo(BaseModel):
    text: str = ""
    number: float = 0


@pytest.fixture
def guarded() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        return {"length": len(body), "body": body.decode("latin-1")}

    @app.post("/model")
    def model(echo: Echo) -> Echo:
        return echo

    @app.get("/things/{name}")
    def thing(name: str, q: str = "") -> dict:
        return {"name": name, "q": q}

    app.add_middleware(RequestGuard, max_request_bytes=LIMIT)
    return app


@pytest.fixture
def client(guarded) -> Iterator[TestClient]:
    yield TestClient(guarded, raise_server_exceptions=False)


async def call(app, scope: dict, chunks: list[bytes]) -> tuple[list[dict], int]:
    """Run `app` on one request whose body arrives in `chunks`: what it sent, and how many chunks it read."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        if read > len(chunks):
            raise AssertionError("the body was read past its end")
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/echo", "raw_path": b"/echo", "query_string": b"",
               "headers": [], "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
               "root_path": "", **scope}, receive, send)
    return sent, read


async def test_a_body_declared_over_the_limit_is_refused_without_being_read(guarded):
    headers = [(b"content-length", str(LIMIT + 1).encode()), (b"content-type", b"application/json")]

    sent, read = await call(guarded, {"headers": headers}, [b"x" * (LIMIT + 1)])

    assert (sent[0]["status"], read) == (413, 0)


async def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit(guarded):
    chunks = [b"x" * 400] * 10

    sent, read = await call(guarded, {}, chunks)

    assert (sent[0]["status"], read) == (413, 3)
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_body_within_the_limit_is_handed_on_unchanged(client):
    body = b'{ "text" : "caf\\u00e9 \xf0\x9f\x98\x80 \\ud83d\\ude00",\n "n": 1.5e3 }'

    response = client.post("/echo", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert response.json()["body"].encode("latin-1") == body


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_does_not_allow_is_refused_naming_where_it_is(client, word):
    response = client.post("/model", content=f'{{"text": "a", "number": {word}}}'.encode(),
                           headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "number"], "type": "json_not_finite",
                                          "msg": response.json()["detail"][0]["msg"]}]


@pytest.mark.parametrize("name", UNSTORABLE)
def test_a_string_that_cannot_be_stored_is_refused_wherever_it_is(client, name):
    body = {"outer": [{"fine": "yes"}, {"inner": UNSTORABLE[name]}]}

    response = client.post("/echo", content=raw(body), headers=JSON)

    assert response.status_code == 422
    assert locations(response) == [["body", "outer", 1, "inner"]]
    [fault] = response.json()["detail"]
    assert set(fault) == {"loc", "msg", "type"} and UNSTORABLE[name] not in fault["msg"]


@pytest.mark.parametrize("name", UNSTORABLE)
def test_a_member_name_that_cannot_be_stored_is_refused(client, name):
    response = client.post("/echo", content=raw({"outer": {UNSTORABLE[name]: 1}}), headers=JSON)

    assert response.status_code == 422
    assert locations(response) == [["body", "outer"]]


def test_every_fault_of_a_body_is_listed_at_once(client):
    response = client.post("/echo", content=raw({"a": float("nan"), "b": ["\ud800", "ok", "\x00"]}), headers=JSON)

    assert response.status_code == 422
    assert sorted(map(str, locations(response))) == sorted(map(str, [["body", "a"], ["body", "b", 0],
                                                                       ["body", "b", 2]]))


def test_a_body_that_is_not_utf8_is_refused(client):
    response = client.post("/echo", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "invalid_utf8"


def test_a_body_that_is_not_json_is_left_to_fastapi(client):
    response = client.post("/model", content=b'{"text": ', headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_a_body_of_another_media_type_is_handed_on_unchecked(client):
    response = client.post("/echo", content=b"NaN \x00", headers={"content-type": "text/plain"})

    assert response.json() == {"length": 5, "body": "NaN \x00"}


@pytest.mark.parametrize("url", ["/things/a%00b", "/things/a?q=x%00", "/things/a?q%00=x"])
def test_nul_in_the_path_or_the_query_is_refused(client, url):
    response = client.get(url)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "nul_character"


@pytest.mark.parametrize("url", ["/things/a", "/things/a%00b", "/openapi.json", "/docs"])
def test_every_answer_says_it_is_not_to_be_cached_nor_sniffed(client, url):
    response = client.get(url)

    assert response.status_code in (200, 422)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


# --- the services' own apps ------------------------------------------------------------------------------

CASE = uuid4()
REFERRAL_ROUTES = {
    "/referrals": lambda bad: a_referral_body() | {"young_person": a_referral_body()["young_person"]
                                                   | {"given_name": bad}},
    f"/cases/{CASE}/eligibility": lambda bad: {"occurred_at": "2024-03-16T10:00:00Z", "eligible": bad},
    f"/cases/{CASE}/assessments": lambda bad: {"occurred_at": "2024-03-16T10:00:00Z", "support_needs": [bad],
                                               "support_level": "medium", "risk": "low", "priority_band": "a"},
    f"/cases/{CASE}/panel-decisions": lambda bad: {"occurred_at": "2024-03-16T10:00:00Z", "decision": "allocate",
                                                   "panel_date": bad},
}
BAD_VALUES = NOT_FINITE | {"lone surrogate": "\ud800"}


@pytest.fixture
def referral_app(referrals_store) -> TestClient:
    app = trusting_test_tokens(build_referral(Settings(environment="test", max_request_bytes=64 * 1024)))
    app.state.runtime.store = referrals_store
    return TestClient(app, raise_server_exceptions=False, headers=bearer("admin"))


@pytest.fixture
def placement_store():
    return in_memory_placements()


@pytest.fixture
def placement_app(placement_store) -> TestClient:
    app = trusting_test_tokens(build_placement(Settings(environment="test")))
    app.state.runtime.store = placement_store
    return TestClient(app, raise_server_exceptions=False, headers=bearer("admin"))


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("route", REFERRAL_ROUTES)
def test_a_referral_write_with_a_value_json_cannot_hold_is_refused_and_stores_nothing(referral_app,
                                                                                     referrals_store, route, value):
    response = referral_app.post(route, content=raw(REFERRAL_ROUTES[route](BAD_VALUES[value])), headers=JSON)

    assert response.status_code == 422, response.text
    assert referrals_store.position() == 0


def test_a_referral_within_the_limit_still_opens_a_case(referral_app):
    response = referral_app.post("/referrals", json=a_referral_body())

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"


def test_a_referral_over_the_limit_is_refused(referral_app, referrals_store):
    body = a_referral_body() | {"young_person": a_referral_body()["young_person"] | {"address": "x" * 70_000}}

    response = referral_app.post("/referrals", json=body)

    assert response.status_code == 413
    assert referrals_store.position() == 0


@pytest.mark.parametrize("url", ["/panel-agenda?district=pres%00ton", "/districts/pres%00ton/rejected-messages",
                                 f"/cases/{CASE}?after=referral:1%00", "/panel-agenda?district=%ED%A0%80",
                                 "/districts/%ED%A0%80/rejected-messages"])
def test_a_referral_read_with_nul_or_a_lone_surrogate_in_its_url_is_refused(referral_app, url):
    # A percent-encoded surrogate is not UTF-8: it is decoded as U+FFFD, which no district is named.
    assert referral_app.get(url).status_code == 422


def placement_routes(catalogue: Catalogue) -> dict[str, Any]:
    scheme = {"provider_id": str(catalogue.provider()), "name": "Riverside Foyer", "district": "preston",
              "provision_type": "foyer", "pathway_stage": "progression", "support_level": "medium",
              "support_hours_per_week": 10.0, "capacity_units": 2, "opened_on": "2024-01-01"}
    return {
        "/schemes": lambda bad: scheme | {"support_hours_per_week": bad},
        f"/schemes/{uuid4()}/capacity": lambda bad: {"units": bad, "effective_from": "2024-02-01"},
        "/providers": lambda bad: {"name": bad, "district": "preston"},
        "/schemes ": lambda bad: scheme | {"name": bad},
    }


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("route", ["/schemes", "/schemes/{id}/capacity"])
def test_a_placement_write_with_a_value_json_cannot_hold_is_refused(placement_app, placement_store, route, value):
    catalogue = Catalogue(placement_store)
    routes = list(placement_routes(catalogue).items())
    path, body = routes[0] if route == "/schemes" else routes[1]
    before = placement_store.recorder.max_notification_id()

    response = placement_app.post(path, content=raw(body(BAD_VALUES[value])), headers=JSON)

    assert response.status_code == 422, response.text
    assert placement_store.recorder.max_notification_id() == before


@pytest.mark.parametrize("what", ["provider", "scheme"])
def test_a_provider_or_scheme_name_with_nul_is_refused_and_stores_nothing(placement_app, placement_store, what):
    catalogue = Catalogue(placement_store)
    routes = placement_routes(catalogue)
    path, body = ("/providers", routes["/providers"]) if what == "provider" else ("/schemes", routes["/schemes "])
    before = placement_store.recorder.max_notification_id()

    response = placement_app.post(path, content=raw(body("Riverside\x00Foyer")), headers=JSON)

    assert response.status_code == 422, response.text
    assert locations(response) == [["body", "name"]]
    assert placement_store.recorder.max_notification_id() == before


def test_a_placement_write_in_another_media_type_is_a_422_not_a_500(placement_app):
    response = placement_app.post("/providers", content=b"\xff\xfe\x00name", headers={"content-type": "text/plain"})

    assert response.status_code == 422
