"""No personal data outside the vault, end to end: distinctive names, dates of birth and phone numbers go in over
HTTP and over NATS (one district message refused for wrong fields), their people are erased, and then nothing
casetrack keeps holds them in clear: no table of the database, no message of any JetStream stream, no log file,
no answer of the journeys or placement APIs. The embedded PostgreSQL's password is in none of what is printed
or recorded either."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import psutil
import pytest
from nats.js.errors import NotFoundError

from shared.devservers import System
from shared.devservers.engines import DATABASE_NAME, postgres_bin_dir
from tests.e2e.helpers import auth_headers, system_settings

DISTRICT = "lancaster"


@pytest.fixture(scope="module")
def private_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system of its own, as `casetrack up` runs it (console traces off, as by default)."""
    running = System(system_settings(tmp_path_factory.mktemp("private")))
    running.start()
    yield running
    running.stop()


def a_person(given: str, family: str, born: str, phone: str) -> dict:
    return {"given_name": f"{given}{uuid.uuid4().hex[:6]}", "family_name": f"{family}{uuid.uuid4().hex[:6]}",
            "date_of_birth": born, "phone": phone}


def _post_referral(system: System, body: dict) -> dict:
    """POST /referrals over HTTP, as the district's housing officer."""
    response = httpx.post(f"{system.services['referral'].url}/referrals", json=body, timeout=10,
                          headers=auth_headers(system, "district_officer", district=body["district"]))
    assert response.status_code == 201, response.text
    return response.json()


async def _publish_district_message(system: System, kind: str, body: dict) -> tuple[str, dict]:
    """Publish a district message on casetrack.ingest.<district>.<kind> and wait for its answer ("accepted" or
    "rejected", and the answer's body). Connected as the district's own NATS user."""
    credentials = await asyncio.to_thread(system.district_credentials, DISTRICT)
    nc = await nats.connect(**credentials.connect_options())
    try:
        answered: asyncio.Future = asyncio.get_running_loop().create_future()
        for answer in ("accepted", "rejected"):
            async def arrive(msg, answer=answer):
                if not answered.done():
                    answered.set_result((answer, json.loads(msg.data)))

            await nc.subscribe(f"casetrack.{answer}.{DISTRICT}", cb=arrive)
        await nc.flush()
        await nc.jetstream().publish(f"casetrack.ingest.{DISTRICT}.{kind}", json.dumps(body).encode())
        return await asyncio.wait_for(answered, timeout=20)
    finally:
        await nc.drain()


def a_referral_message(person: dict, ref: str, **overrides) -> dict:
    return {"district_ref": ref, "message_id": f"{ref}-1", "occurred_at": "2026-11-02T09:30:00Z",
            "gateway": "district_housing_options", "cohort": "homeless_16_17", "young_person": person,
            "presenting_reason": "parental_eviction", "flags": []} | overrides


def in_clear(text: str, secrets: list[str]) -> list[str]:
    """The secrets `text` holds, as text or as the hex PostgreSQL prints bytea in."""
    lowered = text.lower()
    return [s for s in secrets if s in text or s.encode().hex() in lowered]


def database_dump(system: System) -> str:
    """Every table of every schema of casetrack's database, as pg_dump writes it (bytea in hex)."""
    postgres = system.postgres
    dump = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "-h", postgres.host, "-p", str(postgres.port), "-U", "postgres",
         "-d", DATABASE_NAME], capture_output=True, text=True, env=postgres.client_env, check=True)
    return dump.stdout


async def stream_messages(system: System) -> list[str]:
    """Every message of every JetStream stream: subject, headers and body (read as the NATS administrator)."""
    nc = await nats.connect(**system.admin_credentials().connect_options())
    try:
        js, seen = nc.jetstream(), []
        for stream in await js.streams_info():
            if not stream.state.messages:
                continue
            for sequence in range(stream.state.first_seq, stream.state.last_seq + 1):
                try:
                    message = await js.get_msg(stream.config.name, sequence)
                except NotFoundError:  # erased (the ingest stream's answered messages)
                    continue
                seen.append(f"{message.subject} {json.dumps(message.headers or {})} "
                            f"{(message.data or b'').decode(errors='replace')}")
        return seen
    finally:
        await nc.drain()


async def ingest_stream_emptied(system: System, seconds: float = 15) -> None:
    """The inbox erases each message from CASETRACK_INGEST once it has answered it: wait until it has."""
    nc = await nats.connect(**system.admin_credentials().connect_options())
    try:
        js, deadline = nc.jetstream(), time.monotonic() + seconds
        while (await js.stream_info("CASETRACK_INGEST")).state.messages and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # polling the stream's state until empty or the deadline
    finally:
        await nc.drain()


def kept_files(data_dir: Path) -> dict[Path, str]:
    """Every log, output and record file casetrack up keeps: logs/ (service logs, .out, casetrack-up.log), the
    nats-server and PostgreSQL logs, and run/."""
    files = [*(data_dir / "logs").rglob("*"), *(data_dir / "nats").glob("*.log"), *(data_dir / "nats").glob("*.out"),
             data_dir / "postgres.log", *(data_dir / "run").rglob("*")]
    return {file: file.read_text(errors="replace") for file in files if file.is_file()}


def read_after(client: httpx.Client, path: str, position: str) -> httpx.Response:
    response = client.get(path, params={"after": position})
    assert response.status_code == 200, response.text
    return response


def placement_knows(client: httpx.Client, case_id: str, seconds: float = 20) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while (response := client.get(f"/cases/{case_id}")).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.1)  # polling until placement has heard of the case, or the deadline
    assert response.status_code == 200, response.text
    return response


async def test_no_personal_data_is_kept_in_clear_anywhere_once_the_people_are_erased(private_system: System):
    system = private_system
    over_http = a_person("Zorblatt", "Quindlewort", "2009-10-23", "07700 913572")
    over_nats = a_person("Yrsabel", "Thistlecombe", "2009-04-17", "07700 926481")
    secrets = [*over_http.values(), *over_nats.values()]

    made = await asyncio.to_thread(_post_referral, system, {
        "district": DISTRICT, "gateway": "district_housing_options", "cohort": "homeless_16_17",
        "young_person": over_http, "presenting_reason": "parental_eviction", "flags": [],
        "occurred_at": "2026-11-20T10:00:00Z"})
    ref = f"LA-{uuid.uuid4().hex[:6]}"
    accepted, ingested = await _publish_district_message(system, "referral", a_referral_message(over_nats, ref))
    # Wrong fields: the reference holds the family name (typed in the wrong box), the cohort is no cohort.
    refused, rejection = await _publish_district_message(system, "referral", a_referral_message(
        over_nats, f"{over_nats['family_name']} {over_nats['date_of_birth']}", cohort="somebody",
        message_id=f"{ref}-2"))
    assert (accepted, refused) == ("accepted", "rejected"), (ingested, rejection)
    assert not in_clear(json.dumps(rejection), secrets)

    referral = httpx.Client(base_url=system.services["referral"].url, timeout=20,
                            headers=auth_headers(system, "data_protection_officer"))
    journeys = httpx.Client(base_url=system.services["journeys"].url, timeout=20, headers=auth_headers(system))
    placement = httpx.Client(base_url=system.services["placement"].url, timeout=20, headers=auth_headers(system))
    with referral, journeys, placement:
        nats_person = referral.get(f"/cases/{ingested['case_id']}").json()["person_ref"]
        assert referral.get(f"/people/{nats_person}/personal-data").json()["phone"] == over_nats["phone"]
        erasures = [referral.delete(f"/people/{person}/personal-data")
                    for person in (made["person_ref"], nats_person)]
        assert [e.status_code for e in erasures] == [200, 200], [e.text for e in erasures]
        assert {e.json()["write_ahead_log"] for e in erasures} == {"switched past the destroyed key"}
        last = erasures[-1].json()["position"]
        answers = [read_after(journeys, f"/journeys/{case}", last).text
                   for case in (made["case_id"], ingested["case_id"])]
        answers.append(read_after(journeys, "/cases-by-district", last).text)
        answers += [placement_knows(placement, case).text for case in (made["case_id"], ingested["case_id"])]
        answers += [placement.get(path).text for path in (
            "/cases-awaiting-placement", f"/young-people/{made['person_ref']}/placement",
            f"/young-people/{nats_person}/placement")]
        listed = referral.get(f"/districts/{DISTRICT}/rejected-messages", params={"unresolved": "false"},
                              headers=auth_headers(system, "district_officer", district=DISTRICT))
        answers.append(listed.text)
    assert rejection["rejection_id"] in listed.text  # the refusal is listed, without what it held
    await ingest_stream_emptied(system)

    dump = await asyncio.to_thread(database_dump, system)
    messages = await stream_messages(system)
    files = kept_files(system.settings.data_dir)

    assert made["case_id"] in dump and any(ingested["case_id"] in m for m in messages)  # the scans see data
    assert in_clear(dump, secrets) == []
    assert [m for m in messages if in_clear(m, secrets)] == []
    assert {str(file): found for file, text in files.items() if (found := in_clear(text, secrets))} == {}
    assert [a for a in answers if in_clear(a, secrets)] == []
    password = system.postgres.password
    assert [str(file) for file, text in files.items() if password in text] == []
    assert password not in system.shown_database_url
    referral_env = psutil.Process(system.pid("referral")).environ()  # the keys reach services as files
    assert "CASETRACK_VAULT_KEY" not in referral_env and "CASETRACK_PLACEMENT_ID_KEY" not in referral_env
    key_file = Path(referral_env["CASETRACK_VAULT_KEY_FILE"])
    assert key_file.parent == system.settings.data_dir / "secrets" and key_file.stat().st_mode & 0o077 == 0
