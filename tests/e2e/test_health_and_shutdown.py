"""A service stopped with SIGTERM under load, its vital signs, and its log: as an operator meets them.

The system here is the referral, placement and journeys services (each follows another), started as `casetrack up`
starts them, on engines of its own.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import nats
import pytest

from shared.devservers import System
from shared.subjects import ingest_subject, stream_name
from tests.e2e.helpers import a_referral, auth_headers, system_settings

WRITERS = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    settings = system_settings(tmp_path_factory.mktemp("stack")).model_copy(  # the load here is not rate limited
        update={"write_rate_per_minute": 600_000, "write_burst": 10_000})
    running = System(settings, services=["referral", "placement", "finance", "journeys"])
    running.start()
    yield running
    running.stop()


def a_district_referral(ref: str) -> bytes:
    return json.dumps({
        "district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-11-02T09:30:00Z",
        "gateway": "district_housing_options", "cohort": "homeless_16_17", "presenting_reason": "parental_eviction",
        "young_person": {"given_name": f"Sig{uuid.uuid4().hex[:8]}", "family_name": f"Term{uuid.uuid4().hex[:8]}",
                         "date_of_birth": "2009-05-01"}, "flags": []}).encode()


async def everything_on(js, stream: str) -> list:
    """Every message a stream holds, read through a consumer of the test's own."""
    held = (await js.stream_info(stream)).state.messages
    subscription = await js.pull_subscribe("", durable=f"check-{uuid.uuid4().hex[:8]}", stream=stream)
    found = []
    while len(found) < held:
        found.extend(await subscription.fetch(500, timeout=5))
    await subscription.unsubscribe()
    return found


async def test_sigterm_during_steady_writes_exits_0_within_10_s_with_every_write_published_and_every_applied_district_message_answered(  # noqa: E501
        stack: System):
    referral = stack.services["referral"]
    nc = await nats.connect(**stack.admin_credentials().connect_options())  # reads every stream
    js = nc.jetstream()
    wyre = await nats.connect(**(await asyncio.to_thread(stack.district_credentials, "wyre")).connect_options())
    wyre_js = wyre.jetstream()  # the district system publishes as its own NATS user
    run = uuid.uuid4().hex[:6]
    written: list[dict] = []
    sent = 0
    stopping = asyncio.Event()

    async def writer(http: httpx.AsyncClient) -> None:
        while not stopping.is_set():
            try:
                response = await http.post("/referrals", json=a_referral())
            except httpx.HTTPError:
                await asyncio.sleep(0.05)  # the service has gone: its port refuses
                continue
            if response.status_code == 201:
                written.append(response.json())

    async def district() -> None:
        nonlocal sent
        while not stopping.is_set():
            sent += 1
            await wyre_js.publish(ingest_subject("wyre", "referral"), a_district_referral(f"SD{run}-{sent}"))
            await asyncio.sleep(0.01)  # pacing the district's load (about 100 messages/s)

    async with httpx.AsyncClient(base_url=referral.url, timeout=30, headers=auth_headers(stack)) as http:
        load = [asyncio.create_task(writer(http)) for _ in range(WRITERS)] + [asyncio.create_task(district())]
        deadline = time.monotonic() + 30
        while (len(written) < 100 or sent < 50) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # until the load is steady
        asked_to_stop = time.monotonic()
        referral.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(referral.process.wait, 30)
        took = time.monotonic() - asked_to_stop
        stopping.set()
        await asyncio.gather(*load)

    assert (code, took < 10) == (0, True), f"exit code {code} after {took:.1f} s"
    assert len(written) >= 100
    published = {json.loads(m.data)["case_id"] for m in await everything_on(js, stream_name("referral"))}
    unpublished = [w["case_id"] for w in written if w["case_id"] not in published]
    assert unpublished == [], f"{len(unpublished)} of {len(written)} accepted writes are not on the stream"
    conn = await asyncpg.connect(stack.database_url)
    try:
        applied = {row["message_id"] for row in await conn.fetch(
            "SELECT message_id FROM referral.district_messages WHERE district = 'wyre' AND message_id LIKE $1",
            f"SD{run}-%")}
    finally:
        await conn.close()
    answers = [json.loads(m.data) for m in await everything_on(js, "CASETRACK_ACCEPTED")]
    answered = {a["message_id"] for a in answers if a["message_id"].startswith(f"SD{run}-") and not a["duplicate"]}
    assert applied, "no district message was applied before the stop"
    assert applied - answered == set(), f"{len(applied - answered)} applied district messages were never answered"
    await nc.drain()
    await wyre.drain()
    referral.start()
    referral.wait_until_healthy()


def test_health_answers_from_its_last_check_with_the_inbox_backlog_dead_letters_and_every_lag(stack: System):
    referral = httpx.get(f"{stack.services['referral'].url}/health", params={"fresh": "true"}, timeout=2)
    journeys = httpx.get(f"{stack.services['journeys'].url}/health", params={"fresh": "true"}, timeout=2)

    health = referral.json()
    assert referral.status_code == 200 and health["down"] == [], health
    assert isinstance(health["store_position"], int) and isinstance(health["relay_lag"], int)
    assert set(health["district_inbox"]) == {"backlog", "pending", "in_hand", "oldest_unanswered_seconds"}
    assert health["dead_letters"] == {} and health["age_seconds"] < 1.5
    assert journeys.json()["heads"]["referral"]["store_position"] == health["store_position"] or \
        journeys.json()["heads"]["referral"]["heard_seconds_ago"] < 2
    assert isinstance(journeys.json()["projection_lag"]["journeys"]["referral"], int)


def test_ready_says_the_service_keeps_up_when_it_does(stack: System):
    deadline = time.monotonic() + 15
    while True:
        ready = httpx.get(f"{stack.services['journeys'].url}/ready", timeout=2)
        if ready.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # lags settle after the load of the test before
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"service": "journeys", "ready": True, "reasons": []}


def test_the_log_is_json_lines_with_no_span_dump_and_no_personal_data(stack: System):
    with httpx.Client(base_url=stack.services["referral"].url, timeout=10, headers=auth_headers(stack)) as http:
        referral = a_referral()
        assert http.post("/referrals", json=referral).status_code == 201
    text = stack.services["referral"].log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]

    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), [line for line in lines if not line.startswith("{")][:3]
    assert all({"time", "level", "service", "logger", "message"} <= set(r) for r in records)
    assert not any('"trace_id"' in line or '"span_id"' in line for line in lines)
    assert referral["young_person"]["family_name"] not in text
