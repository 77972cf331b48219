"""`casetrack projections` lists every read model of the running system; `casetrack rebuild` rebuilds one
from the events while reads keep answering, and it answers the same afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from shared.devservers import System
from tests.e2e.helpers import auth_headers, post_referral

READ_MODELS = {"caseload", "emergency_placements", "mediation_returns", "case_ages", "known_cases", "placements",
               "floating_support", "departures", "journeys", "cases_by_district", "status_periods",
               "support_episodes", "support_plans", "returns", "mediation_sustained", "catalogue",
               "stays", "contracts", "outcome_results"}


def casetrack(system: System, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"CASETRACK_BASE_PORT": str(system.settings.base_port),
                        "CASETRACK_HOST": system.settings.host, "CASETRACK_DATA_DIR": str(system.settings.data_dir),
                        "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_casetrack_projections_lists_every_read_model_with_its_position_and_lag(system: System, referral):
    written = post_referral(referral)
    journeys = httpx.get(f"{system.services['journeys'].url}/journeys/{written['case_id']}",
                         params={"after": written["position"]}, timeout=20, headers=auth_headers(system))
    assert journeys.status_code == 200

    listed = casetrack(system, "projections")

    assert listed.returncode == 0, listed.stderr
    rows = [line.split("│")[1:-1] for line in listed.stdout.splitlines() if line.count("│") == 7]
    named = {(cells[0].strip(), cells[1].strip(), cells[2].strip()) for cells in rows}
    assert {projection for _, projection, _ in named} == READ_MODELS
    assert ("journeys", "journeys", "referral") in named and ("journeys", "journeys", "placement") in named


def test_a_rebuilt_read_model_answers_as_before(system: System, referral):
    journeys = httpx.Client(base_url=system.services["journeys"].url, timeout=20, headers=auth_headers(system))
    written = [post_referral(referral, district=district) for district in ("dover", "dover", "wyre")]
    last = written[-1]["position"]
    before = journeys.get("/cases-by-district", params={"after": last}).json()
    journey_before = journeys.get(f"/journeys/{written[0]['case_id']}").json()

    rebuilt = casetrack(system, "rebuild", "cases_by_district")
    also = casetrack(system, "rebuild", "journeys")

    assert rebuilt.returncode == 0 and also.returncode == 0, rebuilt.stderr + also.stderr
    assert journeys.get("/cases-by-district", params={"after": last}).json() == before
    assert journeys.get(f"/journeys/{written[0]['case_id']}").json() == journey_before
    states = {s["projection"]: s for s in journeys.get("/projections").json()}
    assert states["cases_by_district"]["rebuild"]["state"] == "done"
    assert {c["district"]: c["cases"] for c in before if c["cohort"] == "homeless_16_17"}.keys() >= {"dover", "wyre"}


def test_rebuilding_a_projection_nobody_has_is_refused(system: System):
    refused = casetrack(system, "rebuild", "no_such_read_model")

    assert refused.returncode == 2 and "no running service has a projection 'no_such_read_model'" in refused.stderr
