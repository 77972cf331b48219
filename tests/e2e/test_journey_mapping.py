"""Journey mapping for analysts on the running system: the pathway map over HTTP, `casetrack report pathways` in the
terminal, and `casetrack export ocel|xes` writing the journeys for process mining; small numbers suppressed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from xml.etree import ElementTree

import httpx

from shared.devservers import System
from tests.e2e.helpers import auth_headers, post_referral


def casetrack(system: System, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"CASETRACK_BASE_PORT": str(system.settings.base_port),
                        "CASETRACK_POSTGRES_PORT": str(system.settings.postgres_port),
                        "CASETRACK_HOST": system.settings.host, "CASETRACK_DATA_DIR": str(system.settings.data_dir),
                        "COLUMNS": "220"}
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_pathway_map_the_report_and_the_exports_agree_and_suppress_small_numbers(system: System, referral,
                                                                                       tmp_path):
    written = [post_referral(referral, district="thanet") for _ in range(6)]
    written += [post_referral(referral, district="dover") for _ in range(2)]
    analyst = httpx.Client(base_url=system.services["journeys"].url, timeout=20,
                           headers=auth_headers(system, role="analyst"))

    thanet = analyst.get("/pathway-map", params={"district": "thanet", "after": written[-1]["position"]})
    dover = analyst.get("/pathway-map", params={"district": "dover"})
    report = casetrack(system, "report", "pathways", "--district", "thanet")
    ocel = casetrack(system, "export", "ocel", str(tmp_path / "journeys.ocel.json"), "--district", "thanet")
    xes = casetrack(system, "export", "xes", str(tmp_path / "journeys.xes"), "--district", "thanet")

    assert thanet.status_code == 200, thanet.text
    [variant] = thanet.json()["variants"]
    assert (variant["young_people"], variant["suppressed"]) == (6, False)
    assert all(row["suppressed"] and row["young_people"] is None for row in dover.json()["variants"])
    assert report.returncode == 0, report.stderr
    assert "Pathway variants in thanet" in report.stdout and " 6 " in report.stdout
    assert "Time in each stage (days)" in report.stdout
    assert ocel.returncode == 0 and xes.returncode == 0, ocel.stderr + xes.stderr
    document = json.loads((tmp_path / "journeys.ocel.json").read_text())
    cases = {case["case_id"] for case in written[:6]}
    assert {o["id"].split(":", 1)[1] for o in document["objects"] if o["type"] == "case"} == cases
    traces = ElementTree.parse(tmp_path / "journeys.xes").getroot().findall("{*}trace")
    assert len(traces) == 6
