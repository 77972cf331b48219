"""The journeys bench's synthetic county (shared/bench_journeys.py): real contract events, the same for the same seed,
about 30 a young person, every pathway stage among them, in the order they would be recorded."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict

import pytest

from services.journeys.pathways import Stage, Step, staged
from services.journeys.projections.journeys import ENVELOPE
from shared.bench_journeys import END, START, synthetic_county
from shared.contracts import parse_event
from shared.contracts.placement import NO_CASE
from shared.districts import district_register
from shared.projections import Recorded

YOUNG_PEOPLE = 400


@pytest.fixture(scope="module")
def county() -> list[Recorded]:
    return list(synthetic_county(YOUNG_PEOPLE, seed=5))


def of_type(county: list[Recorded], event_type: str) -> list:
    return [recorded.event for recorded in county if recorded.event.event_type == event_type]


def test_the_same_seed_makes_the_same_events_and_another_seed_others(county):
    again = list(synthetic_county(YOUNG_PEOPLE, seed=5))
    other = list(itertools.islice(synthetic_county(YOUNG_PEOPLE, seed=6), 2_000))

    assert [(r.stream, r.sequence, r.event.model_dump_json()) for r in again] == \
        [(r.stream, r.sequence, r.event.model_dump_json()) for r in county]
    assert [r.event.model_dump_json() for r in other] != [r.event.model_dump_json() for r in county[:2_000]]


def test_every_event_is_a_valid_contract_event(county):
    for recorded in county:
        assert parse_event(recorded.event.model_dump_json()) == recorded.event


def test_a_young_person_has_about_30_events(county):
    assert 25 <= len(county) / YOUNG_PEOPLE <= 35
    assert len(of_type(county, "ReferralMade")) >= YOUNG_PEOPLE


def test_events_are_in_the_order_recorded_each_stream_counting_up_and_each_aggregate_in_its_versions(county):
    recorded_at = [recorded.event.recorded_at for recorded in county]
    assert recorded_at == sorted(recorded_at) and START - (END - START) < recorded_at[0] and recorded_at[-1] < END
    sequences: dict[str, list[int]] = defaultdict(list)
    versions: Counter = Counter()
    for recorded in county:
        sequences[recorded.stream].append(recorded.sequence)
        assert recorded.source_position == recorded.sequence
        versions[recorded.event.service, recorded.event.aggregate_id] += 1
        assert recorded.event.aggregate_version == versions[recorded.event.service, recorded.event.aggregate_id]
    assert set(sequences) == {"CASETRACK_REFERRAL", "CASETRACK_PLACEMENT", "CASETRACK_FINANCE"}
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in sequences.values())
    assert all(r.event.occurred_at <= r.event.recorded_at for r in county)


def test_every_stage_of_the_pathway_map_is_in_the_journeys(county):
    person_of_case = {r.event.case_id: r.event.person_ref for r in county if r.event.case_id != NO_CASE}
    steps: dict = defaultdict(list)
    for recorded in county:
        event = recorded.event
        if event.case_id != NO_CASE and event.service in ("referral", "placement"):
            steps[person_of_case[event.case_id]].append(Step(
                event.event_type, event.occurred_at, json.loads(event.model_dump_json(exclude=ENVELOPE)),
                str(event.case_id), str(event.event_id), district=event.district))

    stages = Counter(stage for person in steps.values() for _, stage, _ in staged(person) if stage is not None)

    assert set(stages) == set(Stage)


def test_the_journeys_hold_every_kind_of_step_the_map_counts(county):
    kinds = Counter(r.event.event_type for r in county)
    moved = of_type(county, "PlacementMoved")
    ended = of_type(county, "PlacementEnded")

    assert {"ReferralMade", "EligibilityDecided", "MediationAttempted", "MediationConcluded", "ReturnHomeFollowedUp",
            "DutyStarted", "DutyEnded", "AssessmentCompleted", "PanelDecisionMade", "PlacementStarted",
            "PlacementMoved", "PlacementBrokeDown", "PlacementEnded", "BedAndBreakfastNightsRecorded",
            "FloatingSupportStarted", "FloatingSupportEnded", "CaseClosed", "CaseReopened", "PersonLinked",
            "AgeReached", "FlagRaised", "LegalStatusChanged", "CostAccrued"} <= set(kinds)
    assert {e.outcome.value for e in of_type(county, "MediationConcluded")} >= {"returned_home", "not_possible"}
    assert {e.decision.value for e in of_type(county, "PanelDecisionMade")} >= {"allocate_service", "defer"}
    assert {e.route.value for e in of_type(county, "PlacementStarted")} >= {"panel", "emergency", "pathway_plan"}
    assert all(e.reason is not None for e in moved if not e.planned) and any(not e.planned for e in moved)
    assert {e.planned for e in ended} == {True, False}
    assert all(e.age == 18 for e in of_type(county, "AgeReached"))
    assert any(e.flags for e in of_type(county, "ReferralMade"))
    assert len({e.gateway for e in of_type(county, "ReferralMade")}) >= 6
    assert {e.cohort.value for e in of_type(county, "ReferralMade")} == {
        "homeless_16_17", "looked_after_16_17", "care_leaver", "young_person_at_risk"}


def test_each_cost_is_of_a_stay_begun_by_a_placement_or_floating_support_step_recorded_before_it(county):
    began = {}
    for recorded in county:
        event = recorded.event
        if event.event_type in ("PlacementStarted", "PlacementMoved", "FloatingSupportStarted"):
            began[event.event_id] = event
        elif event.event_type == "CostAccrued":
            stay = began[event.stay_id]
            assert (stay.case_id, stay.district) == (event.case_id, event.district)
            assert event.month >= stay.occurred_at.date().replace(day=1) and event.days > 0


def test_referrals_come_from_a_dozen_districts_in_force_over_the_simulated_years(county):
    register = district_register()
    districts = {e.district for e in of_type(county, "ReferralMade")}

    assert len(districts) == 12
    assert all(register.district(code).in_force_on(START.date()) and register.district(code).in_force_on(END.date())
               for code in districts)


def test_the_county_is_streamed_not_made_first():
    first = list(itertools.islice(synthetic_county(1_000_000, seed=1), 500))

    assert len(first) == 500 and first[-1].event.recorded_at < START + (END - START) / 1_000
