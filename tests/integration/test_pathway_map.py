"""The pathway map and a young person's journey read from the journeys read models on real PostgreSQL: the
hand-written set's events (and their stays' costs) applied through the `journeys` projection (steps, costs, the
young people waiting for their summaries) as their runners would, in the order they were recorded; then the
queries and the routes, every expectation computed by hand. `as_of` leaves out a departure and a person link
recorded late."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.journeys.api import router
from services.journeys.api.journeys import prepare_journey_reads
from services.journeys.pathway_queries import Chosen, young_person_journey
from services.journeys.projections.journeys import JourneyProjection
from services.journeys.summaries import pathway_map_of
from shared.contracts import Event
from shared.contracts.placement import SchemeRegistered, SchemeStayLimitsChanged
from shared.errors import map_domain_errors
from shared.projections import Recorded, prepare_projection
from shared.settings import Settings
from shared.web import today_utc
from tests.unit.pathway_builders import TODAY, AYoungPerson, a_move_on_and_back, d, the_hand_written_set
from tests.unit.tokens import bearer, trusting_test_tokens

LATE = {"bed_and_breakfast_end_recorded": d(8, 20), "link_recorded": d(9, 1)}
"""The B&B stay's planned end (5 May) recorded on 20 August; the Dover case linked to its person (2 August) recorded
on 1 September."""


async def apply(pool: asyncpg.Pool, schema: str, events: list[Event]) -> None:
    """Apply events through the journeys projection in the order they were recorded, each with its
    sequence in its service's stream."""
    projections = [JourneyProjection()]
    sequences: dict[str, int] = {}
    batch = []
    for event in sorted(events, key=lambda event: event.recorded_at):
        sequences[event.service] = sequences.get(event.service, 0) + 1
        sequence = sequences[event.service]
        batch.append(Recorded(event, f"CASETRACK_{event.service.upper()}", sequence, sequence))
    async with pool.acquire() as conn:
        for projection in projections:
            await prepare_projection(conn, schema, projection)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            for projection in projections:
                await projection.apply(conn, [r for r in batch
                                              if r.event.event_type in projection.follows.get(r.event.service, ())])


@pytest.fixture
async def people(pool, schema) -> list[AYoungPerson]:
    people = the_hand_written_set(**LATE)
    await apply(pool, schema, [event for person in people for event in [*person.events, *person.costs]])
    return people


@pytest.fixture
async def people_and_one_back(pool, schema) -> list[AYoungPerson]:
    """The hand-written set (nothing recorded late) and a UASC young person back within 12 months of moving on."""
    people = [*the_hand_written_set(), a_move_on_and_back()]
    await apply(pool, schema, [event for person in people for event in [*person.events, *person.costs]])
    return people


async def map_of(pool, schema, threshold: int = 1, **chosen):
    async with pool.acquire() as conn:
        return await pathway_map_of(conn, Chosen(**chosen), threshold=threshold, today=TODAY, schema=schema)


async def map_of_on(pool, schema, today, threshold: int = 1, **chosen):
    async with pool.acquire() as conn:
        return await pathway_map_of(conn, Chosen(**chosen), threshold=threshold, today=today, schema=schema)


def by_variant(pathways) -> dict[tuple[str, ...], object]:
    return {row.variant: row for row in pathways.variants}


async def test_the_pathway_map_of_every_journey_with_its_stays_costs(people, pool, schema):
    pathways = await map_of(pool, schema)

    rows = by_variant(pathways)
    assert {variant: (row.young_people, row.median_days, row.mean_cost_pence) for variant, row in rows.items()} == {
        person.variant: (1, float(person.days), person.cost_pence) for person in people}
    assert (pathways.total.young_people, pathways.total.median_days, pathways.total.p90_days) == (6, 233.0, 356)
    assert (pathways.total.mean_cost_pence, pathways.total.median_cost_pence,
            pathways.total.cost_per_planned_move_on_pence) == (162_917, 113_750, 244_375)
    assert (pathways.total.planned_move_on_percent, pathways.total.breakdowns_per_100_placements) == (66.7, 16.7)


async def test_at_five_every_lone_variant_is_pooled_unlabelled_and_the_total_shown(people, pool, schema):
    pathways = await map_of(pool, schema, threshold=5)

    assert [(row.variant, row.young_people, row.median_days) for row in pathways.variants] == [
        (("other variants",), 6, None)]
    assert (pathways.total.young_people, pathways.transitions) == (6, [])


async def test_as_of_a_day_leaves_out_what_was_recorded_after_it(people, pool, schema):
    step_down, breakdown, _, bnb, _, linked = people
    pathways = await map_of(pool, schema, as_of=d(8, 15))

    rows = by_variant(pathways)
    # the B&B stay's end, recorded 20 August, is not known: the stay is open on 15 August (1 April + 136 days)
    bnb_then = rows[("presentation", "emergency:bed_and_breakfast", "emergency:emergency_assessment_bed")]
    assert (bnb_then.young_people, bnb_then.median_days, bnb_then.planned_move_on_percent) == (1, 136.0, 0.0)
    # the link, recorded 1 September, is not known: the Dover case is someone else's, the Maidstone one alone
    assert rows[("presentation", "prevention")].median_days == 15.0
    assert rows[("presentation", "assessment", "panel", "supported:supported_lodgings")].young_people == 1
    # the breakdown's core 24/7 stay: May's cost is known by then, October's is not
    assert rows[breakdown.variant].mean_cost_pence == 120_000 + 100_000
    # the step down: its end (28 September) had not happened
    assert ("presentation", "assessment", "panel", "emergency:emergency_assessment_bed", "supported:foyer",
            "move_on:private_rented_with_support") in rows
    assert pathways.total.young_people == 7

    later = by_variant(await map_of(pool, schema, as_of=d(9, 1)))
    assert bnb.variant in later and linked.variant in later and step_down.variant not in later


async def test_the_district_filter_keeps_each_districts_cases(people, pool, schema):
    dover = await map_of(pool, schema, district="dover")
    maidstone = await map_of(pool, schema, district="maidstone")

    assert {row.variant: row.median_days for row in dover.variants} == {
        people[3].variant: 35.0,
        ("presentation", "assessment", "panel", "supported:supported_lodgings"): 153.0}  # 1 August to today
    assert dover.total.young_people == 2
    assert by_variant(maidstone)[("presentation", "prevention")].median_days == 15.0
    assert maidstone.total.young_people == 5


async def test_cohort_gateway_and_referral_period_filters(people, pool, schema):
    care_leavers = await map_of(pool, schema, cohort="care_leaver")
    leaving_care_team = await map_of(pool, schema, gateway="leaving_care_team")
    february = await map_of(pool, schema, referred_from=d(2, 1), referred_to=d(3, 1))

    assert [row.variant for row in care_leavers.variants] == [people[4].variant]
    assert [row.variant for row in leaving_care_team.variants] == [people[4].variant]
    assert {row.variant for row in february.variants} == {people[1].variant, people[2].variant}


async def test_a_linked_young_persons_journey_is_every_case_in_one_timeline(people, pool, schema):
    linked = people[-1]
    async with pool.acquire() as conn:
        journey = await young_person_journey(conn, linked.person_ref, today=TODAY, schema=schema)
        dover = await young_person_journey(conn, linked.person_ref, today=TODAY, district="dover", schema=schema)

    assert [case["district"] for case in journey["cases"]] == ["maidstone", "dover"]
    assert [(s["event_type"], s["stage"]) for s in journey["steps"]] == [
        ("ReferralMade", "presentation"), ("MediationAttempted", "prevention"), ("MediationConcluded", "prevention"),
        ("CaseClosed", None), ("ReferralMade", "re_presentation"), ("RestrictedFlagRaised", None),
        ("PersonLinked", None), ("AssessmentCompleted", "assessment"), ("PanelDecisionMade", "panel"),
        ("PlacementStarted", "supported")]  # the flag and the link happened together: the link was recorded later
    assert journey["steps"][5]["facts"]["flag"] == "restricted"
    assert (journey["steps"][-1]["cost"]["pence"], journey["cost_pence"]) == (40_000, 40_000)
    assert (journey["variant"], journey["end_to_end_days"], journey["open"]) == (list(linked.variant), 356, True)
    assert [case["district"] for case in dover["cases"]] == ["dover"]
    assert dover["variant"] == ["presentation", "assessment", "panel", "supported:supported_lodgings"]


async def test_returns_breakdowns_time_in_stage_and_panel_throughput(people_and_one_back, pool, schema):
    people = people_and_one_back
    pathways = await map_of(pool, schema)

    rows = by_variant(pathways)
    assert rows[people[-1].variant].returning_within_12_months_percent == 100.0
    assert rows[people[0].variant].returning_within_12_months_percent is None  # moved on < 12 months before TODAY
    assert pathways.total.returning_within_12_months_percent == 100.0  # 1 of the 1 whose return is known
    a_year_on = await map_of_on(pool, schema, date(2027, 1, 1))
    assert by_variant(a_year_on)[people[0].variant].returning_within_12_months_percent == 0.0
    assert a_year_on.total.returning_within_12_months_percent == 20.0  # 1 of 5 with a planned move-on
    assert [(c.reason, c.stage, c.breakdowns, c.breakdowns_per_100_placements) for c in pathways.breakdowns] == [
        ("young_person_left", "supported", 1, 16.7)]
    # the six's days in each stage (tests/unit/test_pathways.py) and the seventh's: presentation 5 (15-20 Jan),
    # supported 59 (to 20 Mar), move-on 195 (to 1 Oct), re-presentation 1, assessment 1, panel 90 (3 Oct to today)
    assert [(t.stage, t.young_people, t.median_days, t.p90_days) for t in pathways.time_in_stage] == [
        ("presentation", 7, 2.0, 5), ("prevention", 2, 146.0, 201), ("assessment", 6, 1.5, 5),
        ("panel", 5, 5.0, 90), ("emergency", 3, 30.0, 35), ("supported", 5, 144.0, 325),
        ("move_on", 5, 1.0, 195), ("re_presentation", 3, 1.0, 2)]
    assert [(p.area, p.month, p.decisions, p.by_decision) for p in pathways.panel_throughput] == [
        ("east-kent", "2025-08", 1, {"allocate_service": 1}), ("west-kent", "2025-01", 1, {"allocate_service": 1}),
        ("west-kent", "2025-02", 1, {"allocate_service": 1}), ("west-kent", "2025-06", 1, {"allocate_service": 1}),
        ("west-kent", "2025-10", 1, {"refer_elsewhere": 1})]


async def test_the_flag_filter_keeps_journeys_with_that_flag_raised(people_and_one_back, pool, schema):
    uasc = await map_of(pool, schema, flag="uasc")
    youth_justice = await map_of(pool, schema, flag="youth_justice")
    before_it = await map_of(pool, schema, flag="uasc", as_of=d(1, 14))

    assert [(row.variant, row.young_people) for row in uasc.variants] == [(people_and_one_back[-1].variant, 1)]
    assert (youth_justice.total.young_people, youth_justice.variants) == (None, [])  # none: under any threshold
    assert before_it.variants == []


# -- the routes ---------------------------------------------------------------------------------------------------


@dataclass
class StandInRuntime:
    """What the journeys routes use of a ServiceRuntime."""

    pool: asyncpg.Pool
    schema: str
    settings: Settings

    async def wait_for_positions(self, positions: list[str], *projections: str) -> None:
        return None


@pytest.fixture
async def client(people, pool, schema) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    app.state.runtime = runtime = StandInRuntime(pool, schema, Settings(environment="test", small_number_threshold=2))
    await prepare_journey_reads(runtime, None)
    app.dependency_overrides[today_utc] = lambda: TODAY
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusting_test_tokens(app)),
                                 base_url="http://journeys") as client:
        yield client


async def test_the_pathway_map_route_in_json_and_csv_with_the_threshold_of_the_settings(client):
    answer = await client.get("/pathway-map", headers=bearer("analyst"))
    csv = await client.get("/pathway-map", params={"format": "csv", "as_of": "2025-08-15"},
                           headers=bearer("commissioner"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["threshold"] == 2 and answer.json()["total"]["young_people"] == 6
    assert [(row["variant"], row["young_people"]) for row in answer.json()["variants"]] == [(["other variants"], 6)]
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("kind,variant,young_people,suppressed")
    assert "total,,7,False" in csv.text
    # the new tables: each cell alone, so hidden at 2 (two or more hidden cells in each), but the stages' times
    assert [cell["suppressed"] for cell in answer.json()["panel_throughput"]] == [True] * 4
    assert answer.json()["breakdowns"] == [{"reason": "young_person_left", "stage": "supported", "young_people": None,
                                            "suppressed": True, "breakdowns": None,
                                            "breakdowns_per_100_placements": None}]
    assert answer.json()["time_in_stage"][0] == {"stage": "presentation", "young_people": 6, "suppressed": False,
                                                 "median_days": 2.0, "p90_days": 4}
    assert {line.split(",")[0] for line in csv.text.splitlines()[1:]} == {
        "variant", "total", "breakdown", "time_in_stage", "panel_throughput"}  # no transition: no variant shown


async def test_the_flag_parameter_takes_analysts_flags_only(client):
    uasc = await client.get("/pathway-map", params={"flag": "uasc"}, headers=bearer("analyst"))
    other = await client.get("/pathway-map", params={"flag": "mental_health"}, headers=bearer("analyst"))

    assert uasc.status_code == 200 and uasc.json()["variants"] == [] and uasc.json()["total"]["suppressed"]
    assert other.status_code == 422


async def test_a_district_officer_maps_their_own_district_only(client):
    own = await client.get("/pathway-map", headers=bearer("district_officer", district="dover"))
    other = await client.get("/pathway-map", params={"district": "maidstone"},
                             headers=bearer("district_officer", district="dover"))

    assert own.json()["total"]["young_people"] == 2
    assert other.status_code == 403


async def test_a_young_persons_journey_read_is_recorded_and_a_district_officer_sees_their_districts_cases(
        client, people, pool, schema):
    linked = people[-1]
    path = f"/young-people/{linked.person_ref}/journey"
    officer = await client.get(path, headers=bearer("district_officer", district="dover", subject="officer-1"))
    elsewhere = await client.get(f"/young-people/{people[1].person_ref}/journey",
                                 headers=bearer("district_officer", district="dover"))
    auditor = await client.get(path, headers=bearer("auditor"))
    audited = await client.get(path, params={"reason": "complaint 42"}, headers=bearer("auditor", subject="aud-1"))
    unknown = await client.get(f"/young-people/{people[0].cases[0].case_id}/journey", headers=bearer("analyst"))

    assert officer.status_code == 200 and [c["district"] for c in officer.json()["cases"]] == ["dover"]
    assert elsewhere.status_code == 403
    assert auditor.status_code == 422 and auditor.json()["detail"][0]["type"] == "reason_required"
    assert audited.status_code == 200 and len(audited.json()["cases"]) == 2
    assert unknown.status_code == 404
    async with pool.acquire() as conn:
        reads = await conn.fetch(f"SELECT subject, role, case_id, reason FROM {schema}.journey_reads ORDER BY id")
    assert [(r["subject"], r["role"], r["case_id"], r["reason"]) for r in reads] == [
        ("officer-1", "district_officer", linked.cases[1].case_id, None),
        ("aud-1", "auditor", linked.cases[0].case_id, "complaint 42"),
        ("aud-1", "auditor", linked.cases[1].case_id, "complaint 42")]


def foyer_limits(event_class, day, **limits):
    """The foyer's stay limits, from `day` (its registration, or a change)."""
    from tests.unit.pathway_builders import FOYER, on
    common = {"aggregate_id": FOYER.scheme_id, "aggregate_version": 1 if event_class is SchemeRegistered else 2,
              "district": FOYER.district, "occurred_at": on(day), "recorded_at": on(day, 18),
              "scheme_id": FOYER.scheme_id, **limits}
    if event_class is SchemeRegistered:
        return SchemeRegistered(**common, provider_id=FOYER.provider_id, name="The Foyer",
                                provision_type=FOYER.provision_type, pathway_stage=FOYER.pathway_stage,
                                support_level=FOYER.support_level, support_hours_per_week=10, capacity_units=20,
                                opened_on=day)
    return SchemeStayLimitsChanged(**common, effective_from=day)


async def test_stays_are_held_to_the_limits_of_their_scheme_on_the_day_they_began(pool, schema):
    """The step down's foyer stay (5 February to 1 June: 116 days) began under the registration's limits (maximum
    100, target 60): over both. The breakdown's (10 February to 10 April: 59 days) is under those, but once the
    limits from 8 February (maximum 90, target 30) are recorded it is held to them: over the target only. Every
    other stay's scheme has no limits."""
    people = the_hand_written_set()
    registered = foyer_limits(SchemeRegistered, d(1, 1), max_stay_days=100, target_stay_days=60)
    await apply(pool, schema, [registered, *(event for person in people for event in [*person.events, *person.costs])])

    before = (await map_of(pool, schema)).total
    changed = foyer_limits(SchemeStayLimitsChanged, d(2, 8), max_stay_days=90, target_stay_days=30)
    await apply(pool, schema, [changed])
    after = (await map_of(pool, schema)).total

    assert (before.stays_over_maximum_percent, before.stays_over_target_percent) == (50.0, 50.0)
    assert (after.stays_over_maximum_percent, after.stays_over_target_percent) == (50.0, 100.0)
    assert after.stays_ended == before.stays_ended == 7


@pytest.mark.parametrize("threshold", [1, 2, 5])
async def test_the_map_from_the_stored_summaries_is_the_map_from_every_step(people_and_one_back, pool, schema,
                                                                             threshold):
    """The SQL aggregates over the summaries give exactly what the pure definitions give over the steps, one after
    the other on one connection or side by side on several."""
    from services.journeys.pathway_queries import journeys_of
    from services.journeys.pathways import pathway_map

    async with pool.acquire() as conn:
        journeys = await journeys_of(conn, Chosen(), schema)
    from_steps = pathway_map(journeys, threshold=threshold, today=TODAY)

    assert (await map_of(pool, schema, threshold=threshold)).as_dict() == from_steps.as_dict()
    async with pool.acquire() as conn:
        side_by_side = await pathway_map_of(conn, Chosen(), threshold=threshold, today=TODAY, schema=schema, pool=pool)
    assert side_by_side.as_dict() == from_steps.as_dict()


@pytest.mark.parametrize(("filters", "young_people"), [
    ({}, 6), ({"area": "west-kent"}, 5), ({"area": "east-kent"}, 1), ({"age_band": "16-17"}, 6),
    ({"age_band": "18-21"}, 0), ({"legal_status": "relevant"}, 0), ({"legal_status": "not_looked_after"}, 5),
    ({"cohort": "care_leaver"}, 1)],
    ids=["none", "Maidstone's area (the linked person was first referred there)", "Dover's area (the B&B stay)",
         "16-17", "18-21", "no relevant care leaver", "not looked after", "the care leaver"])
async def test_young_people_are_chosen_by_their_first_referral(client, filters, young_people):
    answer = await client.get("/pathway-map", params=filters, headers=bearer("analyst"))

    assert answer.status_code == 200, answer.text
    assert (answer.json()["total"]["young_people"] or 0) == young_people or (
        young_people < 2 and answer.json()["total"]["suppressed"])


async def test_the_legal_status_filter_is_the_status_on_the_day_of_the_first_referral(client, people):
    cared_for = people[4].cases[0].events[0].legal_status  # the floating support care leaver's, at referral
    chosen = await client.get("/pathway-map", params={"legal_status": cared_for.value}, headers=bearer("analyst"))
    unknown_area = await client.get("/pathway-map", params={"area": "atlantis"}, headers=bearer("analyst"))
    bad_band = await client.get("/pathway-map", params={"age_band": "12-15"}, headers=bearer("analyst"))

    assert chosen.status_code == 200 and chosen.json()["total"]["suppressed"]  # one young person: under 2
    assert unknown_area.status_code == 422 and unknown_area.json()["detail"][0]["type"] == "unknown_area"
    assert bad_band.status_code == 422


async def test_a_young_persons_journey_as_of_a_day_before_their_link_was_recorded(client, people):
    """The Dover case was linked (2 August) on 1 September: on 15 August it was someone else's."""
    linked = people[-1]
    path = f"/young-people/{linked.person_ref}/journey"
    before = await client.get(path, params={"as_of": "2025-08-15"}, headers=bearer("analyst"))
    after = await client.get(path, params={"as_of": "2025-09-02"}, headers=bearer("analyst"))
    csv = await client.get(path, params={"format": "csv"}, headers=bearer("analyst"))

    assert [c["district"] for c in before.json()["cases"]] == ["maidstone"]
    assert before.json()["as_of"] == "2025-08-15" and before.json()["cost_pence"] == 0
    assert [c["district"] for c in after.json()["cases"]] == ["maidstone", "dover"]
    assert after.json()["cost_pence"] == 40_000
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("case_id,event_id,event_type")
    assert len(csv.text.strip().splitlines()) == 1 + len(after.json()["steps"])
    assert "restricted" in csv.text and "40000" in csv.text
