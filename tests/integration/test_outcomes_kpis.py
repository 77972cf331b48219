"""The commissioners' KPIs and tables built from events on real PostgreSQL: Kent's Q2 2013/14 destinations and KPI2
(383 planned, 125 unplanned, 46 excluded by the configured rules: 82.9% = 383 / 462), a move between schemes counted
as a departure, KPI1 with current users and independent destinations, the outcomes table with a not-applicable
outcome out of its denominator, and every figure explained down to its event ids."""

from __future__ import annotations

from datetime import date

import pytest

from services.outcomes import kpis
from shared.contracts.outcomes import Independence, Outcome, OutcomeResult, ServiceType
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from tests.integration.outcomes_events import (
    APlan,
    AScheme,
    AStay,
    FloatingSupport,
    OutcomesReadModels,
    days_after,
    shipped_rules,
)

Q2 = kpis.quarter("2013-14 Q2")
IN_Q2 = date(2013, 8, 15)
BEFORE = date(2013, 3, 1)

KENT_PLANNED = {Destination.friends_or_family: 124, Destination.short_term_supported_housing: 93,
                Destination.private_rented: 73, Destination.social_rented: 68, Destination.previous_home: 9,
                Destination.custody: 7, Destination.sheltered_housing: 5, Destination.bed_and_breakfast: 4}
KENT_UNPLANNED = {Destination.abandoned: 69, Destination.custody: 19, Destination.friends_or_family: 15,
                  Destination.sleeping_rough: 7, Destination.died: 5, Destination.hospital_or_care_home: 3,
                  Destination.bed_and_breakfast: 2, Destination.short_term_supported_housing: 2,
                  Destination.private_rented: 2, Destination.previous_home: 1}
SHORT_STAYS = 41
"""Unplanned departures after stays under 28 days: with the 5 deaths, the 46 Kent left out unsaid."""


@pytest.fixture
async def models(pool, schema) -> OutcomesReadModels:
    return await OutcomesReadModels(pool, schema, shipped_rules()).prepare()


async def kent_q2(models: OutcomesReadModels) -> dict:
    """Kent's short-term departures of Q2 2013/14, three of the planned moves to supported housing recorded as moves
    between schemes. Returns the departure events by kind."""
    hostel, foyer = AScheme(), AScheme(ProvisionType.foyer)
    events, departures = [], {"planned": [], "unplanned": [], "excluded": [], "moves": []}
    for destination, count in KENT_PLANNED.items():
        for n in range(count):
            stay = AStay(hostel)
            events.append(stay.started(BEFORE))
            if destination is Destination.short_term_supported_housing and n < 3:
                departure = stay.moved(IN_Q2, foyer, planned=True, days=167)
                departures["moves"].append(departure)
            else:
                departure = stay.ended(IN_Q2, destination, planned=True, days=167)
            events.append(departure)
            departures["planned"].append(departure)
    short_stays = SHORT_STAYS
    for destination, count in KENT_UNPLANNED.items():
        for _ in range(count):
            short = destination is not Destination.died and short_stays > 0
            stay = AStay(hostel)
            events.append(stay.started(days_after(IN_Q2, -10) if short else BEFORE))
            departure = stay.broke_down(IN_Q2, destination, days=10 if short else 167)
            short_stays -= short
            events.append(departure)
            excluded = short or destination is Destination.died
            departures["excluded" if excluded else "unplanned"].append(departure)
    outside = AStay(hostel)
    events += [outside.started(BEFORE), outside.ended(date(2013, 10, 1), Destination.social_rented, planned=True,
                                                      days=214)]
    await models.apply(*events)
    return departures


async def test_kents_destinations_table_and_kpi2_from_events(models, pool, schema):
    departures = await kent_q2(models)
    async with pool.acquire() as conn:
        table = await kpis.destinations(conn, Q2, schema=schema)
        [figure] = await kpis.kpi2(conn, models.rules, Q2, schema=schema)

    assert (table.planned_total, table.unplanned_total) == (383, 125)
    planned = {row["destination"]: row["departures"] for row in table.planned}
    assert planned == {d.value: n for d, n in KENT_PLANNED.items()}
    assert {row["destination"]: row["departures"] for row in table.unplanned} == {
        d.value: n for d, n in KENT_UNPLANNED.items()}
    assert {row["kent_row"] for row in table.planned} >= {"Planned - Staying with friends/family",
                                                          "Planned - Supported Housing", "Planned - Prison"}
    assert (figure.numerator, figure.denominator, figure.percent) == (383, 462, 82.9)
    assert figure.excluded == {"died": 5, "stay_under_28_days": SHORT_STAYS}
    assert figure.target_percent == 80.0 and figure.met_target
    assert len(departures["excluded"]) == 46


async def test_a_move_between_schemes_is_a_departure_from_the_first_service(models, pool, schema):
    hostel, foyer = AScheme(), AScheme(ProvisionType.foyer)
    stay = AStay(hostel)
    started = stay.started(BEFORE)
    moved = stay.moved(IN_Q2, foyer, planned=True, days=167)
    await models.apply(started, moved)
    async with pool.acquire() as conn:
        [figure, *by_scheme] = await kpis.kpi2(conn, models.rules, Q2, by=["scheme"], explain=True, schema=schema)
        episodes = await conn.fetch(f"SELECT * FROM {schema}.support_episodes ORDER BY started_at")

    assert (figure.numerator, figure.denominator) == (1, 1)
    assert [f.group for f in by_scheme] == [{"scheme": str(hostel.scheme_id)}]
    assert figure.explanation["numerator"] == [str(moved.event_id)]
    assert [(e["episode_id"], e["scheme_id"], e["departure_event_id"]) for e in episodes] == [
        (started.event_id, hostel.scheme_id, moved.event_id), (moved.event_id, foyer.scheme_id, None)]
    assert episodes[0]["destination"] == Destination.short_term_supported_housing.value


async def test_kpi2_explained_down_to_its_event_ids(models, pool, schema):
    departures = await kent_q2(models)
    async with pool.acquire() as conn:
        [figure] = await kpis.kpi2(conn, models.rules, Q2, explain=True, schema=schema)

    ids = lambda events: sorted(str(e.event_id) for e in events)  # noqa: E731
    assert sorted(figure.explanation["numerator"]) == ids(departures["planned"])
    assert sorted(figure.explanation["denominator"]) == ids(departures["planned"] + departures["unplanned"])
    excluded = figure.explanation["excluded"]
    assert sorted(excluded["died"] + excluded["stay_under_28_days"]) == ids(departures["excluded"])
    assert figure.as_dict()["excluded"] == 46


async def test_kpi2_by_service_type_pools_counts_with_floating_support(models, pool, schema):
    hostel, floating = AScheme(), AScheme(ProvisionType.floating_support)
    events = []
    for planned in (True, True, False):
        stay = AStay(hostel)
        events += [stay.started(BEFORE), stay.ended(IN_Q2, Destination.private_rented if planned else
                                                    Destination.abandoned, planned=planned, days=100)]
    support = FloatingSupport(floating)
    events += [support.started(BEFORE), support.ended(IN_Q2, Destination.remained_in_own_home, planned=True,
                                                      days=160)]
    await models.apply(*events)
    async with pool.acquire() as conn:
        [pooled, *by_type] = await kpis.kpi2(conn, models.rules, Q2, by=["service_type"], schema=schema)

    assert (pooled.numerator, pooled.denominator, pooled.percent) == (3, 4, 75.0)
    assert [(f.group["service_type"], f.numerator, f.denominator) for f in by_type] == [
        ("floating_support", 1, 1), ("short_term", 2, 3)]


async def test_kpi1_counts_current_users_and_independent_destinations(models, pool, schema):
    tenancy = AScheme(ProvisionType.social_tenancy)
    floating = AScheme(ProvisionType.floating_support)
    current, struggling, housed, to_hospital, died = (AStay(tenancy) for _ in range(5))
    starts = [stay.started(BEFORE) for stay in (current, struggling, housed, to_hospital, died)]
    struggling_plan = APlan(starts[1], ServiceType.long_term)
    support = FloatingSupport(floating)
    before_period = AStay(tenancy)
    events = [*starts, support.started(BEFORE), before_period.started(date(2012, 1, 1)),
              before_period.ended(date(2013, 2, 1), Destination.social_rented, planned=True, days=397),
              struggling_plan.agreed(BEFORE, Outcome.maintain_accommodation),
              struggling_plan.reviewed(date(2013, 8, 1), independence=Independence.not_maintained),
              housed.ended(IN_Q2, Destination.social_rented, planned=True, days=167),
              to_hospital.ended(IN_Q2, Destination.hospital_or_care_home, planned=False, days=167),
              died.ended(IN_Q2, Destination.died, planned=False, days=167),
              support.ended(IN_Q2, Destination.remained_in_own_home, planned=True, days=167)]
    await models.apply(*events)
    async with pool.acquire() as conn:
        [figure] = await kpis.kpi1(conn, models.rules, Q2, explain=True, schema=schema)
        [_, *by_type] = await kpis.kpi1(conn, models.rules, Q2, by=["service_type"], schema=schema)

    # users: current, struggling, housed, to_hospital, floating support (died excluded; before_period not a user)
    assert (figure.numerator, figure.denominator, figure.percent) == (3, 5, 60.0)
    assert figure.excluded == {"died": 1}
    assert figure.target_percent == 98.2 and figure.met_target is False
    assert str(starts[0].event_id) in figure.explanation["numerator"]  # a current user: the episode's opening event
    assert str(starts[1].event_id) not in figure.explanation["numerator"]
    assert {(f.group["service_type"], f.numerator, f.denominator) for f in by_type} == {
        ("long_term", 2, 4), ("floating_support", 1, 1)}


async def test_kpi1_by_quarter_counts_each_quarters_users_at_its_end(models, pool, schema):
    tenancy = AScheme(ProvisionType.social_tenancy)
    stays = [AStay(tenancy) for _ in range(2)]
    events = [stay.started(BEFORE) for stay in stays]
    events.append(stays[1].ended(date(2013, 11, 5), Destination.hospital_or_care_home, planned=False, days=249))
    await models.apply(*events)
    half_year = kpis.Period(date(2013, 7, 1), date(2013, 12, 31))
    async with pool.acquire() as conn:
        [pooled, q2, q3] = await kpis.kpi1(conn, models.rules, half_year, by=["quarter"], schema=schema)

    assert (q2.group, q2.numerator, q2.denominator) == ({"quarter": "2013-14 Q2"}, 2, 2)
    assert (q3.group, q3.numerator, q3.denominator) == ({"quarter": "2013-14 Q3"}, 1, 2)
    assert (pooled.numerator, pooled.denominator) == (1, 2)


async def test_the_outcomes_table_leaves_not_applicable_out_of_the_denominator(models, pool, schema):
    hostel = AScheme()
    stays = [AStay(hostel) for _ in range(3)]
    starts = [stay.started(BEFORE) for stay in stays]
    ends = [stay.ended(IN_Q2, Destination.private_rented, planned=True, days=167) for stay in stays]
    plans = [APlan(start) for start in starts]
    income, debt, work = Outcome.maximise_income, Outcome.reduce_debt, Outcome.obtain_paid_work
    events = [*starts, *ends,
              plans[0].agreed(BEFORE, income, debt),
              plans[1].agreed(BEFORE, income, work),
              plans[2].agreed(BEFORE, income),
              plans[0].departed(ends[0], {income: OutcomeResult.achieved, debt: OutcomeResult.not_applicable}),
              plans[1].departed(ends[1], {income: OutcomeResult.not_achieved, work: OutcomeResult.achieved}),
              plans[2].departed(ends[2], {income: OutcomeResult.achieved})]
    await models.apply(*events)
    async with pool.acquire() as conn:
        table = await kpis.outcomes_table(conn, Q2, explain=True, schema=schema)

    rows = {row["outcome"]: row for row in table.rows}
    assert len(table.rows) == 19 and table.individuals == 3
    assert (rows["maximise_income"]["needed"], rows["maximise_income"]["achieved"],
            rows["maximise_income"]["percent"]) == (3, 2, 67)
    assert (rows["reduce_debt"]["needed"], rows["reduce_debt"]["not_applicable"], rows["reduce_debt"]["percent"]) == (
        0, 1, None)
    assert (rows["obtain_paid_work"]["needed"], rows["obtain_paid_work"]["achieved"]) == (1, 1)
    assert (table.needed, table.achieved, table.overall_percent) == (4, 3, 75.0)
    assert rows["reduce_debt"]["domain"] == "economic_wellbeing"
    assert len(rows["maximise_income"]["event_ids"]) == 3


async def test_applying_the_same_events_again_changes_no_figure(models, pool, schema):
    hostel = AScheme()
    stay = AStay(hostel)
    started, ended = stay.started(BEFORE), stay.ended(IN_Q2, Destination.social_rented, planned=True, days=167)
    plan = APlan(started)
    events = [started, ended, plan.agreed(BEFORE, Outcome.maximise_income),
              plan.departed(ended, {Outcome.maximise_income: OutcomeResult.achieved})]
    await models.apply(*events)
    await models.apply(*events)
    async with pool.acquire() as conn:
        [figure] = await kpis.kpi2(conn, models.rules, Q2, schema=schema)
        table = await kpis.outcomes_table(conn, Q2, schema=schema)
    assert (figure.numerator, figure.denominator) == (1, 1)
    assert (table.needed, table.achieved) == (1, 1)


def test_a_financial_year_quarter_is_read_as_kent_writes_it():
    assert kpis.quarter("2013-14 Q2") == kpis.Period(date(2013, 7, 1), date(2013, 9, 30))
    assert kpis.quarter("2013-14 Q4") == kpis.Period(date(2014, 1, 1), date(2014, 3, 31))
    with pytest.raises(ValueError, match="financial-year quarter"):
        kpis.quarter("2013-15 Q2")
