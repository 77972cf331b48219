"""Retrying a write with its Idempotency-Key on the running system: one case or placement, whatever the retries.

The issue's finding: a client retrying `POST /referrals` after a dropped connection opened the case twice (the
first request had been committed; only its answer was lost). Each test counts the cases in the referral store
itself, so a duplicate cannot hide behind an answer that looks right."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import a_referral, auth_headers
from tests.e2e.test_placement_journey import CaseWorker, PlacementTeam, days_ago


@pytest.fixture
def placement(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client


def a_key() -> str:
    return f"test-{uuid.uuid4()}"


async def count_of(system: System, sql: str) -> int:
    conn = await asyncpg.connect(system.database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def referrals_made(system: System) -> int:
    return await count_of(system, "SELECT count(*) FROM referral.referrals_events WHERE topic = 'ReferralMade'")


async def placements_started(system: System) -> int:
    return await count_of(system, "SELECT count(*) FROM placement.placements_events WHERE topic = 'PlacementStarted'")


async def test_a_referral_retried_with_its_key_opens_one_case_and_gets_the_first_answer(system, referral):
    body, key = a_referral(), a_key()
    before = await referrals_made(system)

    first = referral.post("/referrals", json=body, headers={"Idempotency-Key": key})
    retried = referral.post("/referrals", json=body, headers={"Idempotency-Key": key})

    assert (first.status_code, retried.status_code) == (201, 201), retried.text
    assert retried.json() == first.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await referrals_made(system) == before + 1


def test_the_api_document_tells_clients_of_the_key(referral, placement):
    for client, path in ((referral, "/referrals"), (placement, "/placements")):
        operation = client.get("/openapi.json").json()["paths"][path]["post"]
        assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]


async def test_the_same_key_with_another_body_is_refused_and_records_nothing(system, referral):
    key = a_key()
    first = referral.post("/referrals", json=a_referral(), headers={"Idempotency-Key": key})
    before = await referrals_made(system)

    other = referral.post("/referrals", json=a_referral(), headers={"Idempotency-Key": key})

    assert first.status_code == 201
    assert other.status_code == 422, other.text
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert key in other.json()["detail"][0]["msg"]
    assert await referrals_made(system) == before


async def test_a_write_without_a_key_is_done_again_when_sent_again(system, referral):
    body = a_referral()
    before = await referrals_made(system)

    answers = [referral.post("/referrals", json=body) for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["case_id"] != answers[1].json()["case_id"]
    assert await referrals_made(system) == before + 2


async def test_a_placement_retried_with_its_key_is_started_once(system, referral, placement):
    worker, team = CaseWorker(referral), PlacementTeam(placement, "fylde")
    scheme_id = team.scheme("Fylde Crash Pad", "emergency_assessment_bed", "assessment", "high", units=3)
    case = worker.refer("fylde", days_ago(5))
    body = {"case_id": case["case_id"], "scheme_id": scheme_id, "route": "emergency",
            "occurred_at": days_ago(4).isoformat()}
    key = a_key()
    before = await placements_started(system)

    answers = [placement.post("/placements", params={"after": worker.position}, json=body,
                              headers={"Idempotency-Key": key}) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert answers[1].json() == answers[2].json() == answers[0].json()
    assert await placements_started(system) == before + 1
    assert placement.get(f"/schemes/{scheme_id}").json()["let"] == 1


async def test_sixteen_identical_requests_at_once_with_one_key_open_one_case(system, referral):
    body, key = a_referral(), a_key()
    before = await referrals_made(system)
    barrier = threading.Barrier(16, timeout=30)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(referral.base_url), timeout=30, headers=referral.headers) as client:
            barrier.wait()
            return client.post("/referrals", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(16)))

    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.json() == created[0].json() for a in created)
    assert all(a.headers.get("Retry-After") for a in answers if a.status_code == 409)
    assert await referrals_made(system) == before + 1


def post_until_answered(url: str, body: dict, key: str, deadline: float, caller: dict[str, str]) -> httpx.Response:
    """A client that retries with the same key until it has an answer: through dropped connections, a service
    that is down, and '409 in progress'."""
    while True:
        try:
            response = httpx.post(f"{url}/referrals", json=body, headers={"Idempotency-Key": key, **caller}, timeout=5)
            if response.status_code not in (409, 502, 503) or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # a client's back-off between retries


async def test_referrals_retried_across_a_kill_of_the_service_open_one_case_per_key(system, referral):
    """The issue's finding as it happened: clients retry while the referral service is killed with kill -9;
    some requests were committed but their answer never reached the client."""
    service = system.services["referral"]
    url, deadline = service.url, time.monotonic() + 90
    keys = [a_key() for _ in range(40)]
    bodies = {key: a_referral() for key in keys}
    before = await referrals_made(system)
    sent = threading.Semaphore(0)

    def client(key: str) -> httpx.Response:
        sent.release()
        return post_until_answered(url, bodies[key], key, deadline, dict(referral.headers))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = pool.map(client, keys)
        for _ in range(12):
            assert sent.acquire(timeout=30)
        service.kill()
        service.start()
        service.wait_until_healthy()
        answers = list(answers)

    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]
    assert await referrals_made(system) == before + len(keys)
    case_ids = {a.json().get("case_id") or a.json().get("aggregate_id") for a in answers}
    assert len(case_ids) == len(keys)
