"""The commissioners' dated rules the outcomes service measures by (services/outcomes/rules.py and the shipped
rules.toml), and the pure parts of the KPIs (financial-year quarters, pooled percentages)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.outcomes.kpis import KpiFigure, Period, quarter, quarter_of
from services.outcomes.rules import (
    OUTCOMES_RULES,
    Departure,
    Exclusion,
    KpiRule,
    NoRuleInForce,
    OutcomesRules,
    load_outcomes_rules,
)
from shared.contracts.outcomes import ServiceType
from shared.contracts.placement_vocabulary import Destination, ProvisionType


def departure(planned: bool = True, destination: Destination = Destination.private_rented,
              days_in_scheme: int = 200) -> Departure:
    return Departure(planned=planned, destination=destination, days_in_scheme=days_in_scheme)


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outcomes_rules.toml"
    path.write_text(text)
    return path


DATED = """
[[service_types]]
from = 2010-04-01
long_term = ["social_tenancy"]
floating_support = ["floating_support"]

[[service_types]]
from = 2003-04-01
long_term = []
floating_support = ["floating_support", "visiting_support"]

[[kpi1]]
from = 2003-04-01
target_percent = 98.2
independent_destinations = ["social_rented"]

[[kpi2]]
from = 2014-04-01
target_percent = 85
exclusions = [ { reason = "died", destinations = ["died"] } ]

[[kpi2]]
from = 2003-04-01
target_percent = 80.0
exclusions = [
    { reason = "died", destinations = ["died"] },
    { reason = "short_stay", stays_under_days = 28 },
]

[[returns]]
from = "2003-04-01"
within_months = [24, 6, 12]
"""


# -- the shipped rules ------------------------------------------------------------------------------


def test_the_shipped_rules_load():
    rules = load_outcomes_rules()
    assert isinstance(rules, OutcomesRules)
    assert load_outcomes_rules(OUTCOMES_RULES) == rules
    assert all(len(entries) == 1 for entries in (rules.service_types, rules.kpi1, rules.kpi2, rules.returns))


def test_the_shipped_rules_map_provision_types_to_service_types():
    rules = load_outcomes_rules()
    on = date(2013, 7, 1)
    assert rules.service_type(ProvisionType.social_tenancy, on) is ServiceType.long_term
    assert rules.service_type(ProvisionType.private_rented_with_support, on) is ServiceType.long_term
    assert rules.service_type(ProvisionType.floating_support, on) is ServiceType.floating_support
    for provision_type in (ProvisionType.foyer, ProvisionType.emergency_assessment_bed, ProvisionType.core_24_7,
                           ProvisionType.supported_lodgings, ProvisionType.bed_and_breakfast):
        assert rules.service_type(provision_type, on) is ServiceType.short_term


def test_the_shipped_kpi_targets_are_kents():
    rules = load_outcomes_rules()
    assert rules.kpi1_on(date(2013, 7, 1)).target_percent == 98.2
    assert rules.kpi2_on(date(2013, 7, 1)).target_percent == 80.0


def test_the_shipped_kpi1_counts_independent_destinations_and_leaves_out_deaths():
    kpi1 = load_outcomes_rules().kpi1_on(date(2013, 7, 1))
    assert kpi1.independent_destinations == {Destination.social_rented, Destination.private_rented,
                                             Destination.sheltered_housing, Destination.supported_lodgings,
                                             Destination.remained_in_own_home}
    assert kpi1.exclusion_of(departure(planned=False, destination=Destination.died)) == "died"
    assert kpi1.exclusion_of(departure(days_in_scheme=3)) is None


def test_the_shipped_kpi2_leaves_out_deaths_and_stays_under_28_days():
    kpi2 = load_outcomes_rules().kpi2_on(date(2013, 7, 1))
    assert kpi2.exclusion_of(departure(planned=False, destination=Destination.died, days_in_scheme=3)) == "died"
    assert kpi2.exclusion_of(departure(days_in_scheme=27)) == "stay_under_28_days"
    assert kpi2.exclusion_of(departure(planned=False, days_in_scheme=27)) == "stay_under_28_days"
    assert kpi2.exclusion_of(departure(days_in_scheme=28)) is None


def test_the_shipped_return_windows_are_6_12_and_24_months():
    assert load_outcomes_rules().return_windows_on(date(2013, 7, 1)) == (6, 12, 24)


def test_no_shipped_rule_is_in_force_before_april_2003():
    rules = load_outcomes_rules()
    for in_force in (lambda day: rules.service_type(ProvisionType.foyer, day), rules.kpi1_on, rules.kpi2_on,
                     rules.return_windows_on):
        with pytest.raises(NoRuleInForce):
            in_force(date(2003, 3, 31))


# -- dated entries ----------------------------------------------------------------------------------


def test_entries_are_sorted_by_the_day_they_came_into_force(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    assert [entry.since for entry in rules.service_types] == [date(2003, 4, 1), date(2010, 4, 1)]
    assert [entry.since for entry in rules.kpi2] == [date(2003, 4, 1), date(2014, 4, 1)]


def test_the_entry_in_force_on_a_day_is_the_latest_begun_by_then(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    assert rules.kpi2_on(date(2003, 4, 1)).target_percent == 80.0
    assert rules.kpi2_on(date(2014, 3, 31)).target_percent == 80.0
    assert rules.kpi2_on(date(2014, 4, 1)).target_percent == 85.0
    assert rules.kpi2_on(date(2020, 1, 1)).target_percent == 85.0
    assert rules.kpi1_on(date(2020, 1, 1)).target_percent == 98.2


def test_a_departure_is_judged_by_the_exclusions_in_force_on_its_day(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    short = departure(days_in_scheme=10)
    assert rules.kpi2_on(date(2014, 3, 31)).exclusion_of(short) == "short_stay"
    assert rules.kpi2_on(date(2014, 4, 1)).exclusion_of(short) is None


def test_the_service_type_of_a_provision_type_follows_the_entry_in_force(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    assert rules.service_type(ProvisionType.social_tenancy, date(2010, 3, 31)) is ServiceType.short_term
    assert rules.service_type(ProvisionType.social_tenancy, date(2010, 4, 1)) is ServiceType.long_term
    assert rules.service_type(ProvisionType.visiting_support, date(2009, 1, 1)) is ServiceType.floating_support
    assert rules.service_type(ProvisionType.visiting_support, date(2011, 1, 1)) is ServiceType.short_term


def test_return_windows_are_read_sorted_and_a_day_written_as_text_is_read(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    assert rules.returns[0].since == date(2003, 4, 1)
    assert rules.return_windows_on(date(2005, 1, 1)) == (6, 12, 24)


def test_no_rule_is_in_force_before_the_first_entry(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, DATED))
    with pytest.raises(NoRuleInForce, match="2003-04-01"):
        rules.kpi2_on(date(2003, 3, 31))
    with pytest.raises(NoRuleInForce):
        rules.service_type(ProvisionType.foyer, date(2003, 3, 31))


def test_no_rule_is_in_force_for_a_rule_the_file_leaves_out(tmp_path: Path):
    rules = load_outcomes_rules(rules_file(tmp_path, "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"))
    assert rules.kpi1 == () and rules.returns == ()
    with pytest.raises(NoRuleInForce, match="never"):
        rules.kpi1_on(date(2020, 1, 1))


def test_no_rule_in_force_is_a_value_error():
    assert issubclass(NoRuleInForce, ValueError)


# -- a malformed file -------------------------------------------------------------------------------

MALFORMED = {
    "not TOML": "[[kpi2]\nfrom = 2003-04-01\n",
    "an entry without its day": "[[kpi2]]\ntarget_percent = 80\n",
    "a KPI without its target": "[[kpi1]]\nfrom = 2003-04-01\n",
    "a day that is no day": "[[kpi2]]\nfrom = \"April 2003\"\ntarget_percent = 80\n",
    "an unknown destination": "[[kpi1]]\nfrom = 2003-04-01\ntarget_percent = 98\n"
                              "independent_destinations = [\"the_moon\"]\n",
    "an exclusion without its reason": "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"
                                       "exclusions = [ { destinations = [\"died\"] } ]\n",
    "an unknown provision type": "[[service_types]]\nfrom = 2003-04-01\nlong_term = [\"castle\"]\n",
    "a return window that is no number": "[[returns]]\nfrom = 2003-04-01\nwithin_months = [\"six\"]\n",
    "a stay length that is no number": "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"
                                       "exclusions = [ { reason = \"short\", stays_under_days = \"28\" } ]\n",
    "planned that is no true or false": "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"
                                        "exclusions = [ { reason = \"died\", destinations = [\"died\"],"
                                        " planned = \"no\" } ]\n",
    "a misspelt exclusion key": "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"
                                "exclusions = [ { reason = \"short\", stay_under_days = 28 } ]\n",
    "an exclusion of everything": "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\n"
                                  "exclusions = [ { reason = \"all\", planned = false } ]\n",
    "a moment for a day": "[[kpi2]]\nfrom = 2003-04-01T00:00:00\ntarget_percent = 80\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_file_gives_a_value_error_naming_the_file(tmp_path: Path, name: str):
    path = rules_file(tmp_path, MALFORMED[name])
    with pytest.raises(ValueError) as refused:
        load_outcomes_rules(path)
    assert str(path) in str(refused.value)


# -- exclusions -------------------------------------------------------------------------------------


def test_an_exclusion_by_destination_excludes_departures_to_those_destinations_only():
    exclusion = Exclusion("gone", destinations=frozenset({Destination.died, Destination.custody}))
    assert exclusion.excludes(departure(planned=False, destination=Destination.died))
    assert exclusion.excludes(departure(destination=Destination.custody))
    assert not exclusion.excludes(departure(destination=Destination.private_rented))


def test_an_exclusion_by_length_of_stay_excludes_stays_shorter_than_the_days():
    exclusion = Exclusion("short", stays_under_days=28)
    assert exclusion.excludes(departure(days_in_scheme=0))
    assert exclusion.excludes(departure(days_in_scheme=27))
    assert not exclusion.excludes(departure(days_in_scheme=28))


def test_an_exclusion_by_destination_and_length_of_stay_needs_both():
    exclusion = Exclusion("short_to_family", destinations=frozenset({Destination.friends_or_family}),
                          stays_under_days=7)
    assert exclusion.excludes(departure(destination=Destination.friends_or_family, days_in_scheme=6))
    assert not exclusion.excludes(departure(destination=Destination.friends_or_family, days_in_scheme=7))
    assert not exclusion.excludes(departure(destination=Destination.other, days_in_scheme=6))


@pytest.mark.parametrize(("planned", "excludes_planned", "excludes_unplanned"),
                         [(True, True, False), (False, False, True), (None, True, True)])
def test_an_exclusion_may_apply_only_to_planned_or_only_to_unplanned_departures(
        planned: bool | None, excludes_planned: bool, excludes_unplanned: bool):
    exclusion = Exclusion("short", stays_under_days=28, planned=planned)
    assert exclusion.excludes(departure(planned=True, days_in_scheme=5)) is excludes_planned
    assert exclusion.excludes(departure(planned=False, days_in_scheme=5)) is excludes_unplanned


def test_an_exclusion_read_from_a_file_keeps_its_destinations_days_and_planned(tmp_path: Path):
    path = rules_file(tmp_path, "[[kpi2]]\nfrom = 2003-04-01\ntarget_percent = 80\nexclusions = [\n"
                                "  { reason = \"unplanned_short\", destinations = [\"abandoned\", \"other\"],"
                                " stays_under_days = 14, planned = false },\n]\n")
    [exclusion] = load_outcomes_rules(path).kpi2_on(date(2010, 1, 1)).exclusions
    assert exclusion == Exclusion("unplanned_short", frozenset({Destination.abandoned, Destination.other}), 14, False)


def test_a_kpi_rule_names_the_first_exclusion_that_matches():
    rule = KpiRule(since=date(2003, 4, 1), target_percent=80.0, exclusions=(
        Exclusion("died", destinations=frozenset({Destination.died})),
        Exclusion("short_stay", stays_under_days=28),
        Exclusion("anything_unplanned", planned=False),
    ))
    assert rule.exclusion_of(departure(planned=False, destination=Destination.died, days_in_scheme=3)) == "died"
    assert rule.exclusion_of(departure(planned=False, days_in_scheme=3)) == "short_stay"
    assert rule.exclusion_of(departure(planned=False, days_in_scheme=300)) == "anything_unplanned"
    assert rule.exclusion_of(departure(planned=True, days_in_scheme=300)) is None


def test_a_kpi_rule_without_exclusions_excludes_nothing():
    rule = KpiRule(since=date(2003, 4, 1), target_percent=80.0)
    assert rule.exclusion_of(departure(planned=False, destination=Destination.died, days_in_scheme=0)) is None


# -- financial-year quarters ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "first", "last"), [
    ("2013-14 Q1", date(2013, 4, 1), date(2013, 6, 30)),
    ("2013-14 Q2", date(2013, 7, 1), date(2013, 9, 30)),
    ("2013-14 Q3", date(2013, 10, 1), date(2013, 12, 31)),
    ("2013-14 Q4", date(2014, 1, 1), date(2014, 3, 31)),
    ("1999-00 Q4", date(2000, 1, 1), date(2000, 3, 31)),
    ("2015-16 Q4", date(2016, 1, 1), date(2016, 3, 31)),
    (" 2013-14 Q2 ", date(2013, 7, 1), date(2013, 9, 30)),
])
def test_a_quarter_is_written_as_kent_writes_it(text: str, first: date, last: date):
    assert quarter(text) == Period(first, last)


@pytest.mark.parametrize("text", ["2013-15 Q2", "2013-14 Q5", "2013-14 Q0", "2013 Q2", "2013-14", "Q2 2013-14",
                                  "2013-2014 Q2", ""])
def test_a_quarter_written_otherwise_is_refused(text: str):
    with pytest.raises(ValueError, match="financial-year quarter"):
        quarter(text)


@pytest.mark.parametrize(("day", "label"), [
    (date(2013, 4, 1), "2013-14 Q1"), (date(2013, 6, 30), "2013-14 Q1"), (date(2013, 7, 1), "2013-14 Q2"),
    (date(2013, 12, 31), "2013-14 Q3"), (date(2014, 1, 1), "2013-14 Q4"), (date(2014, 3, 31), "2013-14 Q4"),
    (date(2014, 4, 1), "2014-15 Q1"), (date(2000, 2, 29), "1999-00 Q4"),
])
def test_the_quarter_of_a_day_is_the_financial_year_quarter_holding_it(day: date, label: str):
    name, period = quarter_of(day)
    assert name == label
    assert period == quarter(label) and period.first_day <= day <= period.last_day


def test_a_period_ending_before_it_begins_is_refused():
    with pytest.raises(ValueError):
        Period(date(2013, 7, 2), date(2013, 7, 1))


def test_a_period_has_the_quarters_it_touches_each_cut_to_the_period():
    period = Period(date(2013, 5, 15), date(2014, 1, 10))
    assert period.quarters() == [
        ("2013-14 Q1", Period(date(2013, 5, 15), date(2013, 6, 30))),
        ("2013-14 Q2", Period(date(2013, 7, 1), date(2013, 9, 30))),
        ("2013-14 Q3", Period(date(2013, 10, 1), date(2013, 12, 31))),
        ("2013-14 Q4", Period(date(2014, 1, 1), date(2014, 1, 10))),
    ]


def test_a_period_within_one_quarter_has_that_quarter_only():
    assert Period(date(2014, 3, 31), date(2014, 3, 31)).quarters() == [
        ("2013-14 Q4", Period(date(2014, 3, 31), date(2014, 3, 31)))]
    assert quarter("2013-14 Q2").quarters() == [("2013-14 Q2", quarter("2013-14 Q2"))]


def test_a_period_across_financial_years_names_each_years_quarters():
    labels = [label for label, _ in Period(date(2013, 1, 1), date(2014, 12, 31)).quarters()]
    assert labels == ["2012-13 Q4", "2013-14 Q1", "2013-14 Q2", "2013-14 Q3", "2013-14 Q4", "2014-15 Q1",
                      "2014-15 Q2", "2014-15 Q3"]


# -- a KPI figure's percent -------------------------------------------------------------------------


@pytest.mark.parametrize(("numerator", "denominator", "percent"), [
    (2, 3, 66.7), (1, 3, 33.3), (1, 8, 12.5), (4, 4, 100.0), (0, 5, 0.0), (982, 1000, 98.2), (9821, 10000, 98.2)])
def test_a_kpi_figures_percent_is_of_its_pooled_counts_to_one_decimal(numerator: int, denominator: int,
                                                                      percent: float):
    assert KpiFigure(group={}, numerator=numerator, denominator=denominator).percent == percent


def test_a_kpi_figure_with_no_denominator_has_no_percent():
    figure = KpiFigure(group={}, numerator=0, denominator=0, target_percent=80.0)
    assert figure.percent is None
    assert figure.met_target is None
