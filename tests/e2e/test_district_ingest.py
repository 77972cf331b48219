"""A district housing system feeding casetrack over NATS: referrals and updates in, answers back, once each."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import nats
import pytest

from shared.devservers import System

EXAMPLE_CLIENT = Path(__file__).parents[2] / "examples" / "district_client.py"


class District:
    """A district system on plain nats-py: publishes on its ingest subjects, hears its answers."""

    def __init__(self, nc, name: str):
        self.nc, self.js, self.name = nc, nc.jetstream(), name
        self.arrived: asyncio.Queue = asyncio.Queue()

    async def open(self) -> District:
        for answer in ("accepted", "rejected"):
            async def arrive(msg, answer=answer):
                await self.arrived.put((answer, json.loads(msg.data)))

            await self.nc.subscribe(f"casetrack.{answer}.{self.name}", cb=arrive)
        await self.nc.flush()
        return self

    async def send(self, kind: str, message: dict | bytes) -> tuple[str, dict]:
        """Publish, and wait for the answer to this message (the next one: the inbox answers in order)."""
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        await self.js.publish(f"casetrack.ingest.{self.name}.{kind}", body)
        return await asyncio.wait_for(self.arrived.get(), timeout=15)


def a_referral_message(ref: str, **overrides) -> dict:
    return {
        "district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-11-02T09:30:00Z",
        "gateway": "district_housing_options", "cohort": "homeless_16_17",
        "young_person": {"given_name": f"Robin{uuid.uuid4().hex[:6]}", "family_name": f"Ingest{uuid.uuid4().hex[:8]}",
                         "date_of_birth": "2009-05-01", "phone": "07700 900777"},
        "presenting_reason": "parental_eviction", "flags": [],
    } | overrides


async def district_connection(system: System, district: str) -> nats.NATS:
    """A connection as the district's own NATS user (its credentials issued as `casetrack credentials` does)."""
    return await nats.connect(**system.district_credentials(district).connect_options())


@pytest.fixture
async def dover(system: System):
    nc = await district_connection(system, "dover")
    yield await District(nc, "dover").open()
    await nc.drain()


@pytest.fixture
async def admin(system: System):
    nc = await nats.connect(**system.admin_credentials().connect_options())
    yield nc.jetstream()
    await nc.drain()


async def test_a_malformed_referral_is_rejected_with_every_reason_and_a_corrected_resend_is_accepted_once(
        dover, referral, journeys):
    ref = f"DV-{uuid.uuid4().hex[:6]}"
    good = a_referral_message(ref)
    bad = good | {"cohort": "teenager", "young_person": good["young_person"] | {"date_of_birth": "31/02/2009"},
                  "flags": ["famous"]}

    refused, rejection = await dover.send("referral", bad)
    corrected, accepted = await dover.send("referral", good)
    repeated, again = await dover.send("referral", good | {"message_id": f"{ref}-resent"})

    assert refused == "rejected"
    assert (rejection["district_ref"], rejection["message_id"]) == (ref, f"{ref}-1")
    assert {r["field"] for r in rejection["reasons"]} == {"cohort", "young_person.date_of_birth", "flags.0"}
    assert "07700" not in json.dumps(rejection) and good["young_person"]["given_name"] not in json.dumps(rejection)
    assert (corrected, accepted["duplicate"]) == ("accepted", False)
    assert (repeated, again["duplicate"], again["case_id"]) == ("accepted", True, accepted["case_id"])
    kept = referral.get("/districts/dover/rejected-messages", params={"unresolved": "false"}).json()
    [mine] = [r for r in kept if r["district_ref"] == ref]
    assert mine["resolved_by_message_id"] == f"{ref}-1" and len(mine["reasons"]) == 3
    journey = journeys.get(f"/journeys/{accepted['case_id']}", params={"after": again["position"]}).json()
    assert [s["event_type"] for s in journey["steps"]] == ["ReferralMade"]
    assert journey["district"] == "dover"


async def test_updates_follow_the_district_reference_and_a_repeated_update_is_applied_once(dover, journeys):
    ref = f"DV-{uuid.uuid4().hex[:6]}"
    _, opened = await dover.send("referral", a_referral_message(ref))
    eligibility = {"district_ref": ref, "message_id": f"{ref}-2", "occurred_at": "2026-11-03T09:00:00Z",
                   "eligible": True}
    assessment = {"district_ref": ref, "message_id": f"{ref}-3", "occurred_at": "2026-11-04T09:00:00Z",
                  "support_needs": ["mental_health"], "support_level": "high", "risk": "high", "priority_band": "A"}

    answers = [await dover.send("eligibility", eligibility), await dover.send("eligibility", eligibility),
               await dover.send("assessment", assessment)]

    assert [(a, b["duplicate"], b["case_id"]) for a, b in answers] == [
        ("accepted", False, opened["case_id"]), ("accepted", True, opened["case_id"]),
        ("accepted", False, opened["case_id"])]
    journey = journeys.get(f"/journeys/{opened['case_id']}", params={"after": answers[-1][1]["position"]}).json()
    assert [s["event_type"] for s in journey["steps"]] == ["ReferralMade", "EligibilityDecided", "AssessmentCompleted"]


async def test_messages_casetrack_cannot_apply_are_rejected_with_reasons_never_dropped(dover, referral):
    ref = f"DV-{uuid.uuid4().hex[:6]}"
    _, opened = await dover.send("referral", a_referral_message(ref))
    closure = {"district_ref": ref, "message_id": f"{ref}-c", "occurred_at": "2026-11-05T09:00:00Z",
               "reason": "returned_home"}
    await dover.send("closure", closure)

    answers = {
        "not json": await dover.send("referral", b"{not json"),
        "unknown kind": await dover.send("teleport", {"district_ref": ref}),
        "unknown case": await dover.send("eligibility", {"district_ref": "NOPE-1", "message_id": "x-1",
                                                         "occurred_at": "2026-11-03T09:00:00Z", "eligible": True}),
        "closed case": await dover.send("mediation-attempt", {"district_ref": ref, "message_id": f"{ref}-m",
                                                              "occurred_at": "2026-11-06T09:00:00Z"}),
        "too young": await dover.send("referral", a_referral_message(
            f"{ref}-b", young_person={"given_name": "Al", "family_name": "Young", "date_of_birth": "2012-01-01"})),
    }

    assert {name: answer for name, (answer, _) in answers.items()} == dict.fromkeys(answers, "rejected")
    assert {name: [r["type"] for r in body["reasons"]] for name, (_, body) in answers.items()} == {
        "not json": ["NotJson"], "unknown kind": ["UnknownKind"], "unknown case": ["UnknownCase"],
        "closed case": ["CaseAlreadyClosed"], "too young": ["YoungPersonOutsideAgeRange"]}
    kept = referral.get("/districts/dover/rejected-messages").json()
    assert {r["rejection_id"] for r in kept} >= {body["rejection_id"] for _, body in answers.values()}


async def test_answered_messages_are_erased_from_the_ingest_stream(dover, admin):
    await dover.send("referral", a_referral_message(f"DV-{uuid.uuid4().hex[:6]}"))
    await dover.send("referral", b"[]")

    # The answers are published just before the erasures: ask the stream until it is empty (10 s at most).
    deadline = time.monotonic() + 10
    while (left := (await admin.stream_info("CASETRACK_INGEST")).state.messages) and time.monotonic() < deadline:
        pass

    assert left == 0


def test_the_example_district_client_runs_against_casetrack(system: System, tmp_path):
    credentials = tmp_path / "wyre.json"
    credentials.write_bytes(system.district_credentials("wyre").as_json())
    run = subprocess.run([sys.executable, str(EXAMPLE_CLIENT), "--credentials", str(credentials)],
                         capture_output=True, text=True, timeout=60)

    assert run.returncode == 0, run.stdout + run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(a["answer"], a.get("duplicate")) for a in answers] == [
        ("rejected", None), ("accepted", False), ("accepted", True), ("accepted", False)]


async def test_kill_9_of_the_referral_service_mid_ingest_loses_and_doubles_nothing(system: System, journeys):
    nc = await district_connection(system, "swale")
    swale = await District(nc, "swale").open()
    refs = [f"SW-{uuid.uuid4().hex[:6]}" for _ in range(30)]
    for ref in refs:
        await swale.js.publish("casetrack.ingest.swale.referral", json.dumps(a_referral_message(ref)).encode())
    first_answer = await asyncio.wait_for(swale.arrived.get(), timeout=15)

    system.services["referral"].kill()
    system.services["referral"].start()
    system.services["referral"].wait_until_healthy()
    answers = [first_answer]
    while {body["district_ref"] for _, body in answers} != set(refs):
        answers.append(await asyncio.wait_for(swale.arrived.get(), timeout=30))
    await nc.drain()

    assert {answer for answer, _ in answers} == {"accepted"}
    case_of = {body["district_ref"]: body["case_id"] for _, body in answers}
    assert len(set(case_of.values())) == 30  # one case per district reference, even if answered twice
    last = max((body["position"] for _, body in answers), key=lambda p: int(p.split(":")[1]))
    for ref in refs:
        steps = journeys.get(f"/journeys/{case_of[ref]}", params={"after": last}).json()["steps"]
        assert [s["event_type"] for s in steps] == ["ReferralMade"]
    conn = await asyncpg.connect(system.database_url)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM referral.district_messages WHERE district = 'swale'")
    finally:
        await conn.close()
    assert applied == 30
