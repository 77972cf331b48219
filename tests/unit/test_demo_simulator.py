"""The demo county's simulator: the same seed gives the same actions fact by fact, another seed others, and over a
large run the journeys land near the figures the parameters were shaped on (Kent's departures)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from shared.demo.parameters import load_parameters
from shared.demo.simulator import simulate

FIRST, LAST = date(2023, 12, 5), date(2026, 12, 4)


@pytest.fixture(scope="module")
def county():
    return load_parameters()


@pytest.fixture(scope="module")
def large_run(county):
    """Three years of the shipped county, without the shortage effect, so departures follow Kent's figures."""
    steady = county.model_copy(update={"move_on": county.move_on.model_copy(update={"shortage_breakdown_factor": 1.0})})
    return simulate(steady, 7, FIRST, LAST, young_people=6000)


def test_the_same_seed_gives_the_same_actions_fact_by_fact(county):
    first = simulate(county, 42, FIRST, date(2024, 12, 4), young_people=300)
    second = simulate(county, 42, FIRST, date(2024, 12, 4), young_people=300)

    assert len(first) == len(second) > 1000
    assert [(a.at, a.kind, a.district, a.young_person, a.facts) for a in first] == [
        (a.at, a.kind, a.district, a.young_person, a.facts) for a in second]


def test_another_seed_gives_another_county(county):
    first = simulate(county, 1, FIRST, date(2024, 12, 4), young_people=300)
    second = simulate(county, 2, FIRST, date(2024, 12, 4), young_people=300)

    assert [(a.kind, a.facts) for a in first] != [(a.kind, a.facts) for a in second]


def test_actions_come_in_simulated_time_order_within_the_days_simulated(county):
    actions = simulate(county, 3, FIRST, date(2024, 6, 4), young_people=150)

    assert all(before.at <= after.at for before, after in zip(actions, actions[1:], strict=False))
    assert FIRST <= actions[0].at.date() and actions[-1].at.date() <= date(2024, 6, 4)
    assert Counter(a.kind for a in actions)["referral"] == 150
    assert [a.kind for a in actions[:3]] == ["provider", "scheme", "ofsted-registration"]


def test_no_scheme_is_ever_let_beyond_its_capacity(county):
    actions = simulate(county, 5, FIRST, date(2025, 6, 4), young_people=1500)
    capacity = {a.facts["scheme"]: a.facts["capacity_units"] for a in actions if a.kind == "scheme"}
    where: dict[tuple[int, int], str] = {}
    let: Counter = Counter()

    for action in actions:
        facts = action.facts
        if action.kind == "placement-start":
            where[action.young_person, facts["placement"]] = facts["scheme"]
            let[facts["scheme"]] += 1
        elif action.kind == "placement-move":
            let[where[action.young_person, facts["placement"]]] -= 1
            where[action.young_person, facts["placement"]] = facts["to_scheme"]
            let[facts["to_scheme"]] += 1
        elif action.kind in ("placement-end", "placement-breakdown"):
            let[where.pop((action.young_person, facts["placement"]))] -= 1
        assert all(let[scheme] <= capacity[scheme] for scheme in let), action

    assert max(let.values()) > 0


def moves_on(actions) -> list[tuple[bool, str | None]]:
    """(planned, destination) of each departure from a progression or move-on scheme, as Kent counts departures
    per service (a move to another scheme is one, destination None here): the departures the parameters shape on
    Kent's (not those from an emergency bed or B&B, ended by a return home, the panel or a move to a place)."""
    where, ended = {}, []
    for action in actions:
        facts = action.facts
        if action.kind == "placement-move" and not where[action.young_person, facts["placement"]].startswith(
                ("emergency_assessment_bed", "bed_and_breakfast")):
            ended.append((facts["planned"], None))
        if action.kind in ("placement-start", "placement-move"):
            where[action.young_person, facts["placement"]] = facts.get("scheme") or facts["to_scheme"]
        elif action.kind in ("placement-end", "placement-breakdown"):
            scheme = where.pop((action.young_person, facts["placement"]))
            if not scheme.startswith(("emergency_assessment_bed", "bed_and_breakfast")):
                ended.append((facts.get("planned", False), facts["destination"]))
    return ended


def test_departure_destinations_land_within_a_few_points_of_kents(county, large_run):
    ended = [(planned, destination) for planned, destination in moves_on(large_run) if destination]
    planned = Counter(destination for was_planned, destination in ended if was_planned)
    unplanned = Counter(destination for was_planned, destination in ended if not was_planned)

    for weights, counted in ((county.move_on.planned_destinations, planned),
                             (county.move_on.unplanned_destinations, unplanned)):
        kent = {d.value: n / sum(weights.values()) for d, n in weights.items()}
        shares = {d: n / sum(counted.values()) for d, n in counted.items()}
        assert set(shares) <= set(kent)
        assert all(abs(shares.get(d, 0) - kent[d]) < 0.04 for d in kent), (shares, kent)


def kpi2_of(actions) -> tuple[int, int]:
    """KPI2 as the outcomes service counts it, of the actions: planned departures (a move between schemes is a
    planned departure) over departures, leaving out deaths and stays under 28 days."""
    began, planned, counted = {}, 0, 0
    for action in actions:
        stay = (action.district, action.young_person, action.facts.get("placement") or
                action.facts.get("floating_support"))
        if action.kind in ("placement-start", "floating-support-start"):
            began[stay] = action.at
        elif action.kind in ("placement-move", "placement-end", "placement-breakdown", "floating-support-end"):
            if action.facts.get("destination") != "died" and (action.at - began[stay]).days >= 28:
                counted += 1
                planned += action.kind == "placement-move" or (action.kind != "placement-breakdown"
                                                               and bool(action.facts.get("planned")))
            began[stay] = action.at
    return planned, counted


@pytest.mark.parametrize("seed", [1, 2])
def test_kpi2_of_the_shipped_county_lands_near_kents(county, seed):
    """Kent's KPI2 was 383 of 462 (82.9%); the shipped county, shortage effect and all, within 3 points of it."""
    planned, counted = kpi2_of(simulate(county, seed, FIRST, LAST, young_people=3000))

    assert counted > 1500
    assert abs(planned / counted - 383 / 462) < 0.03, planned / counted


def test_fewer_emergency_beds_mean_more_bed_and_breakfast_and_more_breakdowns(county):
    kind = next(k for k in county.provision if k.value == "emergency_assessment_bed")
    beds = county.provision[kind]
    scarce = county.model_copy(update={"provision": {**county.provision, kind: beds.model_copy(
        update={"units": {code: 1 for code in beds.units}})}})

    usual = Counter(a.kind for a in simulate(county, 11, FIRST, date(2025, 12, 4), young_people=2000))
    short = Counter(a.kind for a in simulate(scarce, 11, FIRST, date(2025, 12, 4), young_people=2000))

    assert short["bed-and-breakfast-nights"] > usual["bed-and-breakfast-nights"]
    assert short["placement-breakdown"] > usual["placement-breakdown"]


def test_mediation_returns_home_between_the_seeds_30_and_61_percent(large_run):
    outcomes = Counter(a.facts["outcome"] for a in large_run if a.kind == "mediation-outcome")

    assert 0.30 <= outcomes["returned_home"] / sum(outcomes.values()) <= 0.61


def test_about_40_percent_of_referrals_are_care_leavers_and_some_turn_18_on_the_way(large_run):
    cohorts = Counter(a.facts["cohort"] for a in large_run if a.kind == "referral")

    assert cohorts["care_leaver"] / sum(cohorts.values()) == pytest.approx(0.40, abs=0.03)
    assert any(a.kind == "turned-18" for a in large_run)
    assert not any(a.sent for a in large_run if a.kind == "turned-18")


KENT_PLANNED = {"friends_or_family": 124, "short_term_supported_housing": 93, "private_rented": 73, "social_rented": 68}
"""Kent's four largest planned departure destinations of 383 (Q2 2013/14) [004 Appendix 3]."""


@pytest.mark.parametrize("seed", [1, 2])
def test_planned_destinations_as_casetrack_counts_them_land_near_kents(county, seed):
    """A move between schemes is a planned departure to supported housing (as the outcomes service counts it), so
    the county's moves, not its endings, make Kent's 93 of 383 to supported housing."""
    counted: Counter = Counter()
    for action in simulate(county, seed, FIRST, LAST, young_people=3000):
        if action.kind == "placement-move":
            counted["short_term_supported_housing"] += 1
        elif action.kind == "placement-end" and action.facts.get("planned"):
            counted[action.facts["destination"]] += 1
    shares = {destination: n / sum(counted.values()) for destination, n in counted.items()}

    assert all(abs(shares.get(d, 0) - n / 383) < 0.05 for d, n in KENT_PLANNED.items()), shares
