"""`casetrack demo`'s parts on the running system: a small county (30 young people, one year) simulated and sent
through the real interfaces; the journeys, KPIs and costs reflect what was sent; a bad parameters file is refused
naming its key before anything is sent."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.auth import embedded_signing_key, mint_token
from shared.demo.driver import CountyDriver, Doors
from shared.demo.parameters import load_parameters
from shared.demo.simulator import simulate
from shared.devservers import System
from tests.e2e.helpers import auth_headers, system_settings

LAST = datetime.now(UTC).date() - timedelta(days=1)
FIRST = LAST - timedelta(days=364)


def doors_of(system: System) -> Doors:
    key = embedded_signing_key(system.settings.data_dir)

    def tokens(role: str, **claims) -> str:
        return mint_token(key, role=role, minutes=120, issuer=system.settings.token_issuer,
                          audience=system.settings.token_audience, **claims)

    return Doors(urls={name: service.url for name, service in system.services.items()}, tokens=tokens,
                 district_nats=lambda district: system.district_credentials(district).connect_options())


@pytest.fixture(scope="module")
def small_county(system: System):
    """Thirty young people over a year, sent through the real interfaces."""
    actions = simulate(load_parameters(), 15, FIRST, LAST, young_people=30)
    driver = CountyDriver(doors_of(system))
    sent = asyncio.run(driver.drive(actions, costed_through=LAST))
    return actions, sent


def test_every_young_persons_journey_holds_what_was_sent(system: System, small_county):
    actions, sent = small_county
    analyst = httpx.Client(base_url=system.services["journeys"].url, timeout=30,
                           headers=auth_headers(system, role="analyst"))
    kinds = {"referral": "ReferralMade", "assessment": "AssessmentCompleted", "panel-decision": "PanelDecisionMade",
             "placement-start": "PlacementStarted", "placement-move": "PlacementMoved",
             "placement-end": "PlacementEnded", "placement-breakdown": "PlacementBrokeDown",
             "closure": "CaseClosed", "mediation-outcome": "MediationConcluded"}

    assert sent.actions == len(actions)
    assert len(sent.cases) == 30
    for person, case_id in sent.cases.items():
        journey = analyst.get(f"/journeys/{case_id}", params={"after": sent.after("referral", "placement")})
        assert journey.status_code == 200, journey.text
        recorded = Counter(step["event_type"] for step in journey.json()["steps"])
        expected = Counter(kinds[a.kind] for a in actions if a.young_person == person and a.kind in kinds)
        assert {kind: recorded[kind] for kind in expected} == dict(expected), person


def test_kpi2_counts_the_departures_sent(system: System, small_county):
    actions, sent = small_county
    outcomes = httpx.Client(base_url=system.services["outcomes"].url, timeout=30,
                            headers=auth_headers(system, role="analyst"))
    departures = [a for a in actions if a.kind in ("placement-end", "placement-breakdown", "placement-move")
                  or a.kind == "floating-support-end"]

    kpi2 = outcomes.get("/kpi2", params={"first_day": FIRST.isoformat(), "last_day": LAST.isoformat(),
                                         "after": sent.after("placement", "outcomes")})

    assert kpi2.status_code == 200, kpi2.text
    pooled = kpi2.json()["figures"][0]
    assert pooled["denominator"] + pooled["excluded"] == len(departures)
    planned = sum(1 for a in departures if a.facts.get("planned"))
    assert pooled["numerator"] <= planned


def test_a_bad_parameters_file_is_refused_naming_its_key_before_anything_is_sent(system: System, tmp_path):
    bad = tmp_path / "county.yaml"
    bad.write_text(load_parameters_text().replace("eligible: 0.95", "eligible: 1.5"))
    before = httpx.get(f"{system.services['referral'].url}/health", params={"fresh": "true"}).json()

    run = subprocess.run([sys.executable, "-m", "shared.cli", "demo", "--parameters", str(bad)],
                         env=os.environ | {"CASETRACK_BASE_PORT": str(system.settings.base_port),
                                           "CASETRACK_DATA_DIR": str(system.settings.data_dir), "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=60)

    assert run.returncode == 2, run.stdout + run.stderr
    assert "prevention.eligible" in run.stderr and "less than or equal to 1" in run.stderr
    after = httpx.get(f"{system.services['referral'].url}/health", params={"fresh": "true"}).json()
    assert after["store_position"] == before["store_position"]


def load_parameters_text() -> str:
    from shared.demo.parameters import SHIPPED

    return SHIPPED.read_text()


def test_casetrack_demo_against_a_running_system_prints_where_to_look_and_the_figures(system: System):
    run = subprocess.run([sys.executable, "-m", "shared.cli", "demo", "--young-people", "20", "--years", "1",
                          "--seed", "3"],
                         env=os.environ | {"CASETRACK_BASE_PORT": str(system.settings.base_port),
                                           "CASETRACK_NATS_PORT": str(system.settings.nats_port),
                                           "CASETRACK_POSTGRES_PORT": str(system.settings.postgres_port),
                                           "CASETRACK_DATA_DIR": str(system.settings.data_dir), "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "Where to look" in run.stdout and "/pathway-map" in run.stdout
    assert "KPI2 (target 80%)" in run.stdout and "young people" in run.stdout
    assert "Cost per planned move-on by pathway" in run.stdout


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def journeys_sent(system: System, sent) -> list[list[tuple]]:
    """Each young person's journey as casetrack recorded it (in the simulator's order of young people): each step's
    type, when it happened, its facts and its cost, every id replaced by the order it first appeared in."""
    analyst = httpx.Client(base_url=system.services["journeys"].url, timeout=30,
                           headers=auth_headers(system, role="analyst"))
    names: dict[str, str] = {}

    def named(value):
        if isinstance(value, str) and UUID.fullmatch(value):
            return names.setdefault(value, f"id-{len(names)}")
        if isinstance(value, dict):
            return {key: named(item) for key, item in sorted(value.items())}
        if isinstance(value, list):
            return [named(item) for item in value]
        return value

    journeys = []
    for person in sorted(sent.cases):
        answer = analyst.get(f"/journeys/{sent.cases[person]}",
                             params={"after": sent.after("referral", "placement", "finance")})
        assert answer.status_code == 200, answer.text
        journeys.append([(step["event_type"], step["occurred_at"], named(step["facts"]),
                          step.get("cost", {}).get("pence")) for step in answer.json()["steps"]])
    return journeys


def test_the_same_seed_sends_the_same_journeys_event_by_event_and_fact_by_fact(system: System, tmp_path):
    """One county (seed 21) sent twice, to this casetrack and to another with fresh data: every young person's
    journey is the same, event type by event type and fact by fact (ids aside: each run's are its own)."""
    actions = simulate(load_parameters(), 21, FIRST, LAST, young_people=12)
    first = asyncio.run(CountyDriver(doors_of(system)).drive(actions, costed_through=LAST))
    other = System(system_settings(tmp_path / "other"))
    other.start()
    try:
        second = asyncio.run(CountyDriver(doors_of(other)).drive(
            simulate(load_parameters(), 21, FIRST, LAST, young_people=12), costed_through=LAST))
        again = journeys_sent(other, second)
    finally:
        other.stop()

    once = journeys_sent(system, first)
    assert len(once) == 12 and sum(len(journey) for journey in once) > 12 * 4
    assert once == again
