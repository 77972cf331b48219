"""The district register changed without code: an administrator adds a district to a copy of the register file,
names it in CASETRACK_DISTRICT_REGISTER_FILE and restarts `casetrack up`; the new district's referrals are taken
(over HTTP, and over NATS with credentials issued to it), where the shipped register refuses them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import nats

from shared.districts import DEFAULT_REGISTER
from shared.nats_access import Credentials
from tests.e2e.helpers import a_referral, system_settings
from tests.e2e.test_casetrack_up import casetrack_up, read_until_up, stop, token_headers
from tests.e2e.test_district_ingest import District, a_referral_message

MEDWAY = """
[districts.medway]
name = "Medway"
unitary = true
areas = ["west-kent"]
from = 1998-04-01
rules = [{ from = 1998-04-01, routes_needing_panel = ["panel", "children_services"] }]
"""


def an_administrators_register(folder: Path) -> Path:
    """The shipped register with a district added: what an administrator writes, no code touched."""
    path = folder / "district-register.toml"
    path.write_text(DEFAULT_REGISTER.read_text() + MEDWAY)
    return path


def casetrack(data_dir: Path, settings, *arguments: str) -> subprocess.CompletedProcess:
    """A `casetrack` command run beside the `casetrack up` of `data_dir` (the same settings and environment)."""
    env = {**os.environ, "CASETRACK_DATA_DIR": str(data_dir), "CASETRACK_BASE_PORT": str(settings.base_port),
           "CASETRACK_NATS_PORT": str(settings.nats_port), "CASETRACK_POSTGRES_PORT": str(settings.postgres_port),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "shared.cli", *arguments], capture_output=True, text=True, env=env,
                          timeout=60)


async def a_referral_over_nats(credentials: Credentials) -> tuple[str, dict]:
    nc = await nats.connect(**credentials.connect_options())
    try:
        district = await District(nc, "medway").open()
        return await district.send("referral", a_referral_message("MW-1"))
    finally:
        await nc.close()


def test_a_district_added_to_the_register_file_takes_referrals_after_a_restart_and_the_shipped_register_refuses_it(
        tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    settings = system_settings(data_dir)
    referral_url = f"http://127.0.0.1:{settings.base_port + 1}"
    journeys_url = f"http://127.0.0.1:{settings.base_port + 5}"

    monkeypatch.delenv("CASETRACK_DISTRICT_REGISTER_FILE", raising=False)
    shipped = casetrack_up(data_dir, settings)
    read_until_up(shipped)
    try:
        caller = token_headers(data_dir, "childrens_services")
        refused = httpx.post(f"{referral_url}/referrals", json=a_referral(district="medway"), headers=caller)
        not_issued = casetrack(data_dir, settings, "credentials", "district", "medway")
    finally:
        stop(shipped)

    monkeypatch.setenv("CASETRACK_DISTRICT_REGISTER_FILE", str(an_administrators_register(tmp_path)))
    changed = casetrack_up(data_dir, settings)
    read_until_up(changed)
    try:
        accepted = httpx.post(f"{referral_url}/referrals", json=a_referral(district="medway"), headers=caller)
        journey = httpx.get(f"{journeys_url}/journeys/{accepted.json()['case_id']}",
                            params={"after": accepted.json()["position"]}, headers=token_headers(data_dir, "admin"))
        issued = casetrack(data_dir, settings, "credentials", "district", "medway")
        answer, body = asyncio.run(a_referral_over_nats(Credentials(**json.loads(issued.stdout))))
        listed = casetrack(data_dir, settings, "districts", "--on", "2026-11-20", "--json")
    finally:
        stop(changed)

    assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "UnknownDistrict"
    assert not_issued.returncode == 2 and "unknown district" in not_issued.stderr
    assert accepted.status_code == 201, accepted.text
    assert journey.status_code == 200 and journey.json()["steps"][0]["event_type"] == "ReferralMade"
    assert issued.returncode == 0, issued.stderr
    assert answer == "accepted", body
    medway = next(d for d in json.loads(listed.stdout)["districts"] if d["code"] == "medway")
    assert (medway["council"], medway["areas"], medway["routes_needing_panel"]) == (
        "unitary", ["West Kent"], ["children_services", "panel"])


def test_casetrack_up_with_a_register_file_that_cannot_be_used_stops_at_once_with_one_line(tmp_path, monkeypatch):
    settings = system_settings(tmp_path)
    broken = tmp_path / "district-register.toml"
    broken.write_text(DEFAULT_REGISTER.read_text().replace('county = "kent"', 'county = "kent-county"', 1))
    monkeypatch.setenv("CASETRACK_DISTRICT_REGISTER_FILE", str(broken))

    process = casetrack_up(tmp_path, settings)
    _, errors = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "Traceback" not in errors
    [line] = [line for line in errors.splitlines() if line.strip()]
    assert line == (f"casetrack: bad district register: {broken}: districts.ashford.county: kent-county is not in "
                    "[counties] (kent, lancashire, somerset)")
