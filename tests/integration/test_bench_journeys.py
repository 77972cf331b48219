"""The journeys bench's rebuild on real PostgreSQL: a small synthetic county applied through every journeys projection
fills their tables with what its events say (counted here from the events), a second rebuild starts afresh, and the
pathway map and a young person's journey read from the result."""

from __future__ import annotations

from collections import Counter

import pytest

from services.journeys.pathway_queries import Chosen, young_person_journey
from services.journeys.summaries import pathway_map_of
from shared.bench_journeys import TODAY, rebuild_journeys, synthetic_county
from shared.contracts.placement import NO_CASE
from shared.projections import Recorded

YOUNG_PEOPLE = 200


@pytest.fixture(scope="module")
def county() -> list[Recorded]:
    return list(synthetic_county(YOUNG_PEOPLE, seed=9))


async def count(pool, schema: str, table: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(f"SELECT count(*) FROM {schema}.{table}")


def person_of_each_case(county: list[Recorded]) -> dict:
    return {r.event.case_id: r.event.person_ref for r in county if r.event.case_id != NO_CASE}


async def test_a_rebuild_fills_every_journeys_projection_with_what_the_events_say(pool, schema, county):
    kinds = Counter(r.event.event_type for r in county)
    steps = [r for r in county if r.event.service in ("referral", "placement") and r.event.case_id != NO_CASE]

    read = await rebuild_journeys(pool, schema, iter(county), batch_size=500)

    assert read == len(county)
    assert await count(pool, schema, "case_journeys") == kinds["ReferralMade"]
    assert await count(pool, schema, "journey_steps") == len(steps)
    assert await count(pool, schema, "district_cases") == kinds["ReferralMade"]
    assert await count(pool, schema, "status_facts") == sum(kinds[kind] for kind in (
        "ReferralMade", "CaseReopened", "LegalStatusChanged", "AgeReached", "CaseClosed"))
    assert await count(pool, schema, "bed_and_breakfast_nights") == kinds["BedAndBreakfastNightsRecorded"]
    months = {}
    for cost in (r.event for r in county if r.event.event_type == "CostAccrued"):
        months[cost.stay_id, cost.month] = cost.cost.whole  # a later one replaces the earlier
    async with pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.stay_costs") == len(months)
        assert await conn.fetchval(f"SELECT sum(rent + service_charge + support) FROM {schema}.stay_costs"
                                   ) == sum(months.values())
        positions = {(row["projection"], row["source"]): row["position"] for row in await conn.fetch(
            f"SELECT projection, source, position FROM {schema}.projection_position")}
        persons = set(person_of_each_case(county).values())
        assert await conn.fetchval(f"SELECT count(DISTINCT person_ref) FROM {schema}.case_journeys") == len(persons)
        # every young person summarized (over all their cases), none left waiting
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.journey_summaries WHERE scope = '*'") == len(persons)
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.summaries_waiting") == 0
    last = {r.event.service: r.sequence for r in county}
    assert positions == {("journeys", "referral"): last["referral"], ("journeys", "placement"): last["placement"],
                         ("cases_by_district", "referral"): last["referral"],
                         ("status_periods", "referral"): last["referral"],
                         ("status_periods", "placement"): last["placement"],
                         ("journeys", "finance"): last["finance"]}


async def test_a_second_rebuild_starts_afresh(pool, schema, county):
    await rebuild_journeys(pool, schema, iter(county))
    await rebuild_journeys(pool, schema, iter(county))

    assert await count(pool, schema, "district_cases") == Counter(r.event.event_type for r in county)["ReferralMade"]


async def test_the_pathway_map_and_a_linked_young_persons_journey_read_from_the_rebuilt_tables(pool, schema, county):
    persons = person_of_each_case(county)
    linked = next(r.event for r in county if r.event.event_type == "PersonLinked")
    person = linked.person_ref
    their_cases = {case for case, ref in persons.items() if ref == person}
    their_steps = [r for r in county if r.event.case_id in their_cases and r.event.service != "finance"]
    await rebuild_journeys(pool, schema, iter(county))

    async with pool.acquire() as conn:
        pathways = await pathway_map_of(conn, Chosen(), threshold=1, today=TODAY, schema=schema)
        journey = await young_person_journey(conn, person, today=TODAY, schema=schema)

    assert pathways.total.young_people == len(set(persons.values()))
    assert sum(row.young_people for row in pathways.variants) == len(set(persons.values()))
    assert len(journey["cases"]) == len(their_cases) >= 2
    assert len(journey["steps"]) == len(their_steps)
    assert journey["steps"][0]["stage"] == "presentation"
    assert "re_presentation" in [step["stage"] for step in journey["steps"]]
