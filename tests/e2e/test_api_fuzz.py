"""Every service's API, fuzzed from its own OpenAPI document, and the inputs that once gave 500s, against the
running system: no input whatever gives a server error.

Schemathesis generates a few requests per operation (valid and invalid, from a fixed seed) and checks that
none is answered 5xx; the hand-made inputs check each is refused with the 4xx named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from shared.devservers import System
from shared.settings import SERVICES
from tests.e2e.helpers import a_referral, auth_headers

EXAMPLES_PER_OPERATION = 4
"""Per operation and generation mode (valid, invalid): small enough that the five documents take well under
two minutes, yet every operation is called."""


@pytest.fixture(scope="module")
def fuzz_headers(system: System) -> dict[str, str]:
    """The headers every hand-made request carries (a valid bearer token of an administrator)."""
    return auth_headers(system, "admin")


def headers_for(system: System, operation: schemathesis.APIOperation) -> dict[str, str]:
    """A valid token of a role the operation admits (its `x-roles`), so the fuzzed input reaches the route:
    an administrator where admitted, else the first role named (a district officer of preston, a provider)."""
    roles = operation.definition.raw.get("x-roles", [])
    if not roles:
        return {}
    role = "admin" if "admin" in roles else roles[0]
    return auth_headers(system, role, district="preston" if role == "district_officer" else None,
                        provider=str(uuid4()) if role == "provider" else None)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_request_to_a_service_gets_a_server_error(system: System, service: str):
    url = system.services[service].url
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    server_errors: dict[str, str] = {}
    for loaded in api.get_all_operations():
        operation = loaded.ok()
        for mode in schemathesis.GenerationMode:
            try:
                calls_never_fail(operation, mode, url, headers_for(system, operation))
            except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
                continue
            except Exception as error:  # noqa: BLE001 - every operation is tried; all failures are listed
                server_errors[f"{operation.label} ({mode.value})"] = str(error)[:2000]
    assert not server_errors, "\n\n".join(f"{label}: {error}" for label, error in server_errors.items())


def calls_never_fail(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, url: str,
                     headers: dict[str, str]) -> None:
    """Call `operation` with EXAMPLES_PER_OPERATION cases generated in `mode`, from a fixed seed."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate], print_blob=False)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error], timeout=20)

    call()


# --- hand-made inputs ---------------------------------------------------------------------------------------

CASE = uuid4()
NOT_JSON_VALUES = {"NaN": float("nan"), "Infinity": float("inf"), "lone surrogate": "\ud800"}


def raw(body: dict[str, Any]) -> bytes:
    """`body` as a careless client sends it: NaN and Infinity as bare words, a lone surrogate as its escape."""
    return json.dumps(body).encode()


REFERRAL_WRITES = {
    "/referrals": lambda bad: a_referral() | {"young_person": a_referral()["young_person"] | {"given_name": bad}},
    f"/cases/{CASE}/eligibility": lambda bad: {"occurred_at": "2026-11-21T10:00:00Z", "eligible": bad},
    f"/cases/{CASE}/assessments": lambda bad: {"occurred_at": "2026-11-21T10:00:00Z", "support_needs": [bad],
                                               "support_level": "medium", "risk": "low", "priority_band": "a"},
    f"/cases/{CASE}/panel-decisions": lambda bad: {"occurred_at": "2026-11-21T10:00:00Z", "decision": "allocate",
                                                   "panel_date": bad},
}


def a_scheme(provider_id: str, **overrides: Any) -> dict[str, Any]:
    return {"provider_id": provider_id, "name": "Riverside Foyer", "district": "preston", "provision_type": "foyer",
            "pathway_stage": "progression", "support_level": "medium", "support_hours_per_week": 10.0,
            "capacity_units": 2, "opened_on": "2026-01-01"} | overrides


@pytest.fixture
def placement(system: System, fuzz_headers: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, headers=fuzz_headers, timeout=20) as client:
        yield client


@pytest.fixture
def guarded_referral(system: System, fuzz_headers: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["referral"].url, headers=fuzz_headers, timeout=20) as client:
        yield client


@pytest.fixture
def provider_id(placement: httpx.Client) -> str:
    response = placement.post("/providers", json={"name": "Example Foyer Trust", "district": "preston"})
    assert response.status_code == 201, response.text
    return response.json()["provider_id"]


def post_raw(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(path, content=raw(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize("value", NOT_JSON_VALUES)
@pytest.mark.parametrize("path", REFERRAL_WRITES)
def test_a_referral_write_holding_nan_infinity_or_a_lone_surrogate_is_a_422(guarded_referral, path, value):
    response = post_raw(guarded_referral, path, REFERRAL_WRITES[path](NOT_JSON_VALUES[value]))

    assert response.status_code == 422, response.text


@pytest.mark.parametrize("value", NOT_JSON_VALUES)
@pytest.mark.parametrize("write", ["register a scheme", "change a capacity"])
def test_a_placement_write_holding_nan_infinity_or_a_lone_surrogate_is_a_422(placement, provider_id, write, value):
    bad = NOT_JSON_VALUES[value]
    if write == "register a scheme":
        response = post_raw(placement, "/schemes", a_scheme(provider_id, support_hours_per_week=bad))
    else:
        response = post_raw(placement, f"/schemes/{uuid4()}/capacity", {"units": bad, "effective_from": "2026-02-01"})

    assert response.status_code == 422, response.text


def test_nul_in_a_provider_or_scheme_name_is_a_422_naming_the_name(placement, provider_id):
    provider = placement.post("/providers", json={"name": "Example\x00Trust", "district": "preston"})
    scheme = placement.post("/schemes", json=a_scheme(provider_id, name="Riverside\x00Foyer"))

    assert (provider.status_code, scheme.status_code) == (422, 422), (provider.text, scheme.text)
    assert [reason["loc"] for reason in scheme.json()["detail"]] == [["body", "name"]]


def test_a_body_of_50_mb_is_a_413(guarded_referral):
    response = guarded_referral.post("/referrals", content=b"x" * (50 * 1024 * 1024),
                                     headers={"content-type": "application/json"})

    assert response.status_code == 413


def test_a_streamed_body_past_the_limit_is_a_413(guarded_referral):
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"x" * (1024 * 1024)

    response = guarded_referral.post("/referrals", content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413
