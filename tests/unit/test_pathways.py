"""Pathway stages, variants and the pathway map on a hand-written set of journeys (a step down, a breakdown, a return,
a B&B stay, floating support, a linked person), every expectation computed by hand; and small-number suppression."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.journeys.pathways import (
    Journey,
    Stage,
    Step,
    areas_in_register,
    pathway_map,
    percentile,
    stage_of,
    suppressed,
    variant_of,
)
from shared.contracts.placement_vocabulary import BreakdownReason, Destination, PlacementRoute
from shared.contracts.vocabulary import MediationOutcome, PanelDecision
from tests.unit.pathway_builders import (
    CORE,
    EMERGENCY_BED,
    FOYER,
    PRIVATE_RENTED,
    TODAY,
    ACase,
    a_move_on_and_back,
    d,
    on,
    step,
    the_hand_written_set,
)


def stage_of_event(event) -> Stage | None:
    return stage_of(step(event))


def test_referral_prevention_assessment_and_panel_steps_have_their_stages():
    case = ACase()
    assert stage_of_event(case.referred(d(1, 1))) is Stage.presentation
    assert stage_of_event(case.mediation(d(1, 2), d(1, 3), MediationOutcome.not_possible)) is Stage.prevention
    assert stage_of(step(case.events[-2])) is Stage.prevention  # the attempt too
    assert stage_of_event(case.assessed(d(1, 4))) is Stage.assessment
    assert stage_of_event(case.panel(d(1, 5))) is Stage.panel
    assert stage_of_event(case.closed(d(1, 6))) is None
    assert stage_of_event(case.reopened(d(2, 1))) is Stage.re_presentation
    assert stage_of_event(case.restricted_flag(d(2, 2))) is None


@pytest.mark.parametrize(("event_type", "facts", "stage"), [
    ("DutyStarted", {"duty": "prevention"}, Stage.prevention), ("DutyStarted", {"duty": "relief"}, None),
    ("DutyStarted", {"duty": "main"}, None), ("DutyEnded", {"duty": "prevention", "reason": "accommodation_secured"},
                                               None)],
    ids=["prevention duty", "relief duty", "main duty", "a duty ending"])
def test_only_a_prevention_duty_starting_puts_the_young_person_in_prevention(event_type, facts, stage):
    """A duty ending after a move-on (accommodation secured) is not a step back into prevention."""
    assert stage_of(Step(event_type, on(d(1, 1)), facts)) is stage


@pytest.mark.parametrize(("scheme", "route", "stage"), [
    (EMERGENCY_BED, PlacementRoute.panel, Stage.emergency),
    (FOYER, PlacementRoute.emergency, Stage.emergency),
    (FOYER, PlacementRoute.panel, Stage.supported),
    (CORE, PlacementRoute.placement_team, Stage.supported),
    (PRIVATE_RENTED, PlacementRoute.pathway_plan, Stage.move_on),
], ids=["assessment-stage scheme", "emergency route", "progression", "specialist", "move-on scheme"])
def test_a_placement_starts_the_stage_of_its_scheme_or_an_emergency(scheme, route, stage):
    assert stage_of_event(ACase().placed(d(1, 1), scheme, route)) is stage


def test_moves_ends_and_breakdowns():
    case = ACase()
    case.placed(d(1, 1), FOYER)
    assert stage_of_event(case.moved(d(2, 1), PRIVATE_RENTED)) is Stage.move_on
    assert stage_of_event(case.bed_and_breakfast_nights(d(2, 2), 1)) is None
    assert stage_of_event(case.ended(d(3, 1), Destination.private_rented)) is Stage.move_on
    assert stage_of_event(case.ended(d(3, 1), Destination.not_known, planned=False)) is None
    assert stage_of_event(case.broke_down(d(3, 1), BreakdownReason.custody)) is None
    assert stage_of_event(case.floating_support(d(4, 1))) is Stage.supported
    assert stage_of_event(case.floating_support_ended(d(5, 1), planned=False)) is None
    assert stage_of_event(case.floating_support_ended(d(5, 1))) is Stage.move_on


@pytest.mark.parametrize("person", the_hand_written_set(), ids=lambda person: person.name)
def test_each_journey_of_the_hand_written_set_has_its_variant(person):
    assert variant_of(person.journey().steps) == person.variant


def test_the_variant_of_a_linked_person_is_both_cases_in_order_the_second_referral_a_re_presentation():
    linked = the_hand_written_set()[-1]
    second_case_only = [s for s in linked.journey().steps if s.case_id == str(linked.cases[1].case_id)]

    assert variant_of(reversed(linked.journey().steps)) == (
        "presentation", "prevention", "re_presentation", "assessment", "panel", "supported:supported_lodgings")
    assert variant_of(second_case_only) == ("presentation", "assessment", "panel", "supported:supported_lodgings")


def test_the_pathway_map_of_the_hand_written_set_with_every_figure_computed_by_hand():
    people = the_hand_written_set()
    pathways = pathway_map([person.journey() for person in people], threshold=1, today=TODAY)

    rows = {row.variant: row for row in pathways.variants}
    assert set(rows) == {person.variant for person in people}
    step_down, breakdown, bnb = rows[people[0].variant], rows[people[1].variant], rows[people[3].variant]
    assert (step_down.young_people, step_down.median_days, step_down.p90_days, step_down.planned_move_on_percent,
            step_down.placements, step_down.breakdowns_per_100_placements) == (1, 272.0, 272, 100.0, 1, 0.0)
    assert (step_down.mean_cost_pence, step_down.cost_per_planned_move_on_pence) == (230_000, 230_000)
    assert (breakdown.median_days, breakdown.planned_move_on_percent, breakdown.placements,
            breakdown.breakdowns_per_100_placements, breakdown.cost_per_planned_move_on_pence) == (
        334.0, 0.0, 2, 50.0, None)
    assert (bnb.median_days, bnb.mean_cost_pence, bnb.planned_move_on_percent) == (35.0, 137_500, 100.0)
    assert rows[people[4].variant].breakdowns_per_100_placements is None  # floating support: no placement

    # days [35, 126, 194, 272, 334, 356]; costs [40000, 60000, 90000, 137500, 230000, 420000] = 977500;
    # planned move-ons: step down, return, B&B, floating support; placements 1+2+1+1+0+1, one breakdown
    total = pathways.total
    assert (total.young_people, total.median_days, total.p90_days) == (6, 233.0, 356)
    assert (total.planned_move_on_percent, total.placements, total.breakdowns_per_100_placements) == (66.7, 6, 16.7)
    assert (total.mean_cost_pence, total.median_cost_pence, total.cost_per_planned_move_on_pence) == (
        162_917, 113_750, 244_375)


def test_transitions_between_stages_count_each_young_person_once_per_move():
    people = the_hand_written_set()
    pathways = pathway_map([person.journey() for person in people], threshold=1, today=TODAY)

    links = {(t.from_stage, t.to_stage): t.young_people for t in pathways.transitions}
    assert links == {
        ("presentation", "assessment"): 3, ("assessment", "panel"): 4, ("panel", "emergency"): 2,
        ("emergency", "supported"): 1, ("supported", "move_on"): 2, ("panel", "supported"): 2,
        ("presentation", "prevention"): 2, ("prevention", "re_presentation"): 2,
        ("re_presentation", "assessment"): 2, ("emergency", "move_on"): 2, ("presentation", "emergency"): 1,
        ("assessment", "supported"): 1}


def closed_after(days: int, first: date = date(2025, 1, 1), variant_marker: str = "assessment") -> Journey:
    """A journey referred on `first` and closed `days` later, with one more stage to tell variants apart."""
    case = ACase()
    case.referred(first)
    (case.assessed if variant_marker == "assessment" else case.panel)(first)
    case.closed(first + timedelta(days=days))
    return Journey(str(case.person_ref), tuple(step(event) for event in case.events))


def test_median_and_90th_percentile_of_days_end_to_end():
    ten = pathway_map([closed_after(days) for days in range(10, 101, 10)], threshold=5, today=TODAY)
    eleven = pathway_map([closed_after(days) for days in [*range(10, 101, 10), 200]], threshold=5, today=TODAY)

    assert (ten.total.young_people, ten.total.median_days, ten.total.p90_days) == (10, 55.0, 90)
    assert (eleven.total.median_days, eleven.total.p90_days) == (60.0, 100)
    assert (percentile([7], 90), percentile([3, 1, 2], 50), percentile([1, 2, 3, 4], 90)) == (7, 2, 4)


def test_an_open_journey_runs_to_today():
    case = ACase()
    case.referred(d(12, 1))
    case.placed(d(12, 2), FOYER)
    case.ended(d(12, 20), Destination.private_rented)
    case.placed(d(12, 21), CORE)  # another placement: the journey is open again

    [row] = pathway_map([Journey("p", tuple(step(e) for e in case.events))], threshold=1, today=TODAY).variants
    assert (row.median_days, row.planned_move_on_percent) == (31.0, 0.0)


@pytest.mark.parametrize(("counts", "hidden", "total_hidden"), [
    ({"a": 12, "b": 7, "c": 5}, set(), False),
    ({"a": 12, "b": 7, "c": 3}, {"b", "c"}, False),
    ({"a": 12, "b": 6, "c": 2, "d": 2}, {"b", "c", "d"}, False),
    ({"a": 12, "b": 6, "c": 6, "d": 1}, {"b", "d"}, False),
    ({"a": 3, "b": 3}, {"a", "b"}, False),
    ({"a": 4}, {"a"}, True),
    ({"a": 2, "b": 1}, {"a", "b"}, True),
], ids=["none under", "one under: the next smallest too", "two under holding 4: one more",
        "ties: the first by name", "both under, total shown", "total under", "total under, two cells"])
def test_small_numbers_are_hidden_with_enough_of_their_complement(counts, hidden, total_hidden):
    assert suppressed(counts, 5) == (hidden, total_hidden)


def test_the_pathway_map_pools_small_variants_in_one_row_hiding_their_labels_figures_and_transitions():
    journeys = ([closed_after(30, variant_marker="assessment") for _ in range(12)]
                + [closed_after(40, variant_marker="panel") for _ in range(7)]
                + [Journey(f"x{n}", (Step("ReferralMade", on(d(3, 1)), case_id=f"x{n}"),
                                     Step("MediationAttempted", on(d(3, 2)), case_id=f"x{n}"))) for n in range(3)])

    pathways = pathway_map(journeys, threshold=5, today=TODAY)

    assert [(row.variant, row.young_people, row.suppressed) for row in pathways.variants] == [
        (("presentation", "assessment"), 12, False),
        (("other variants",), 10, True)]
    assert pathways.variants[1].median_days is None and pathways.variants[1].mean_cost_pence is None
    shown = str(pathways.as_dict()["variants"])
    assert "panel" not in shown and "prevention" not in shown
    assert pathways.total.young_people == 22
    assert [(t.from_stage, t.to_stage, t.young_people) for t in pathways.transitions] == [
        ("presentation", "assessment", 12)]


def test_journeys_given_twice_for_one_young_person_are_one_journey():
    person = the_hand_written_set()[-1]
    first, second = ([s for s in person.journey().steps if s.case_id == str(case.case_id)] for case in person.cases)

    pathways = pathway_map([Journey(str(person.person_ref), tuple(second)),
                            Journey(str(person.person_ref), tuple(first))], threshold=1, today=TODAY)
    assert [(row.variant, row.young_people) for row in pathways.variants] == [(person.variant, 1)]


def test_every_variant_of_the_hand_written_set_is_alone_so_hidden_at_five_the_total_shown():
    pathways = pathway_map([person.journey() for person in the_hand_written_set()], today=TODAY)

    assert [(row.variant, row.young_people, row.suppressed) for row in pathways.variants] == [
        (("other variants",), 6, True)]
    assert (pathways.total.young_people, pathways.transitions) == (6, [])


def test_fewer_young_people_than_the_threshold_hide_the_total_too():
    pathways = pathway_map([person.journey() for person in the_hand_written_set()], threshold=7, today=TODAY)

    assert pathways.total.suppressed and pathways.total.young_people is None and pathways.total.median_days is None


def test_the_csv_rows_hold_variants_the_total_and_transitions():
    people = the_hand_written_set()[:2]
    rows = pathway_map([person.journey() for person in people], threshold=1, today=TODAY).rows()

    assert [row["kind"] for row in rows] == (["variant", "variant", "total"] + ["transition"] * 6 + ["breakdown"]
                                             + ["time_in_stage"] * 6 + ["panel_throughput"] * 2)
    assert (rows[9]["reason"], rows[9]["stage"], rows[9]["breakdowns"]) == ("young_person_left", "supported", 1)
    assert (rows[10]["stage"], rows[10]["median_days"]) == ("presentation", 2.0)
    assert (rows[-1]["area"], rows[-1]["month"], rows[-1]["by_decision"]) == (
        "west-kent", "2025-02", {"allocate_service": 1})
    assert (rows[0]["variant"], rows[0]["young_people"]) == (" > ".join(people[0].variant), 1)
    assert (rows[2]["variant"], rows[2]["young_people"]) == ("", 2)


# -- returns, breakdowns by reason and stage, time in stage, panel throughput ------------------------------------


def test_the_share_returning_within_12_months_of_a_planned_move_on():
    people = [*the_hand_written_set(), a_move_on_and_back()]
    pathways = pathway_map([person.journey() for person in people], threshold=1, today=TODAY)

    rows = {row.variant: row.returning_within_12_months_percent for row in pathways.variants}
    assert rows[people[-1].variant] == 100.0  # moved on 20 March, reopened 1 October
    # moved on in 2025: on 1 January 2026 their 12 months are not over, so whether they return is not known yet
    assert rows[people[0].variant] is rows[people[2].variant] is rows[people[4].variant] is None
    assert rows[people[1].variant] is None and rows[people[5].variant] is None  # no planned move-on
    assert pathways.total.returning_within_12_months_percent == 100.0  # 1 of the 1 whose return is known

    a_year_on = pathway_map([person.journey() for person in people], threshold=1, today=date(2027, 1, 1))
    rows = {row.variant: row.returning_within_12_months_percent for row in a_year_on.variants}
    assert rows[people[0].variant] == rows[people[2].variant] == rows[people[4].variant] == 0.0
    assert a_year_on.total.returning_within_12_months_percent == 20.0  # 1 of 5 with a planned move-on


@pytest.mark.parametrize(("back", "returned"), [(d(3, 20, 2026), True), (d(3, 21, 2026), False)],
                         ids=["12 months on to the day", "a day later"])
def test_a_return_counts_up_to_the_same_day_12_calendar_months_after_the_move_on(back, returned):
    case = ACase()
    case.referred(d(1, 1))
    case.floating_support(d(1, 2))
    case.floating_support_ended(d(3, 20))
    case.closed(d(3, 21))
    case.reopened(back)
    journey = Journey("p", tuple(step(e) for e in case.events))

    [row] = pathway_map([journey], threshold=1, today=d(6, 1, 2026)).variants
    assert row.returning_within_12_months_percent == (100.0 if returned else 0.0)


def test_time_in_each_stage_of_the_hand_written_set():
    pathways = pathway_map([person.journey() for person in the_hand_written_set()], threshold=1, today=TODAY)

    # step down: presentation 2 (1-3 Jan), assessment 2, panel 1, emergency 30 (6 Jan-5 Feb), supported 116
    # (5 Feb-1 Jun), move-on 121 (1 Jun-30 Sep, closed); breakdown: 2, 2, 5, supported 325 (10 Feb 2025 to today:
    # the breakdown and the second placement stay supported); return: presentation 1, prevention 91 (2 Mar-1 Jun),
    # re-presentation 1, assessment 1, panel 1, emergency 30, move-on 1 (4-5 Jul); B&B: presentation 0, emergency 35,
    # move-on 0 (its departure ends it); floating support: 4, assessment 5, supported 184, move-on 1; linked person:
    # presentation 2, prevention 201 (12 Jan-1 Aug), re-presentation 2, assessment 1, panel 6, supported 144 (to today)
    assert [(t.stage, t.young_people, t.median_days, t.p90_days) for t in pathways.time_in_stage] == [
        ("presentation", 6, 2.0, 4), ("prevention", 2, 146.0, 201), ("assessment", 5, 2.0, 5),
        ("panel", 4, 3.0, 6), ("emergency", 3, 30.0, 35), ("supported", 4, 164.0, 325), ("move_on", 4, 1.0, 121),
        ("re_presentation", 2, 1.5, 2)]

    at_three = pathway_map([person.journey() for person in the_hand_written_set()], threshold=3, today=TODAY)
    # prevention and re-presentation (2 each) hidden, then nothing more: two hidden cells holding 4
    assert [(t.stage, t.suppressed) for t in at_three.time_in_stage if t.suppressed] == [
        ("prevention", True), ("re_presentation", True)]
    assert all(t.median_days is None for t in at_three.time_in_stage if t.suppressed)


def broke_down(reason: BreakdownReason, person: int) -> Journey:
    case = ACase()
    case.referred(d(1, 1))
    case.placed(d(1, 2), FOYER)
    case.broke_down(d(2, 1), reason)
    return Journey(f"{reason}-{person}", tuple(step(e) for e in case.events))


def test_breakdowns_by_reason_and_stage_per_100_placements():
    people = the_hand_written_set()
    pathways = pathway_map([person.journey() for person in people], threshold=1, today=TODAY)

    # the breakdown's foyer (supported) for young_person_left: 1 of 6 placements
    assert [(c.reason, c.stage, c.young_people, c.breakdowns, c.breakdowns_per_100_placements)
            for c in pathways.breakdowns] == [("young_person_left", "supported", 1, 1, 16.7)]

    journeys = ([broke_down(BreakdownReason.young_person_left, n) for n in range(6)]
                + [broke_down(BreakdownReason.custody, n) for n in range(5)]
                + [broke_down(BreakdownReason.abandonment, n) for n in range(2)])
    cells = pathway_map(journeys, threshold=5, today=TODAY).breakdowns
    # abandonment (2) hidden, then custody (5, the smallest shown) with it
    assert [(c.reason, c.young_people, c.breakdowns, c.breakdowns_per_100_placements) for c in cells] == [
        ("young_person_left", 6, 6, 46.2), ("abandonment", None, None, None), ("custody", None, None, None)]


def test_panel_throughput_per_commissioning_area_and_month():
    people = [*the_hand_written_set(), a_move_on_and_back()]
    pathways = pathway_map([person.journey() for person in people], threshold=1, today=TODAY)

    # Maidstone is in West Kent, Dover in East Kent
    assert [(p.area, p.month, p.young_people, p.decisions, p.by_decision) for p in pathways.panel_throughput] == [
        ("east-kent", "2025-08", 1, 1, {"allocate_service": 1}),
        ("west-kent", "2025-01", 1, 1, {"allocate_service": 1}),
        ("west-kent", "2025-02", 1, 1, {"allocate_service": 1}),
        ("west-kent", "2025-06", 1, 1, {"allocate_service": 1}),
        ("west-kent", "2025-10", 1, 1, {"refer_elsewhere": 1})]


def test_panel_throughput_hides_small_cells_and_small_decisions_within_a_shown_cell():
    def decided(decision: PanelDecision, district: str) -> Journey:
        case = ACase(district=district)
        case.referred(d(1, 1))
        case.panel(d(1, 5), decision)
        return Journey(str(case.person_ref), tuple(step(e) for e in case.events))

    journeys = ([decided(PanelDecision.allocate_service, "maidstone") for _ in range(6)]
                + [decided(PanelDecision.defer, "maidstone")] + [decided(PanelDecision.defer, "dover")])
    cells = pathway_map(journeys, threshold=5, today=TODAY).panel_throughput
    # East Kent's January (1, Dover) is hidden, and West Kent's (7) with it: two hidden cells
    assert [(c.area, c.young_people, c.suppressed) for c in cells] == [
        ("east-kent", None, True), ("west-kent", None, True)]
    # Maidstone's alone: West Kent's January shown; its one deferral hidden, and the allocations with it
    cells = pathway_map(journeys[:7], threshold=5, today=TODAY).panel_throughput
    assert [(c.area, c.month, c.young_people, c.decisions, c.by_decision) for c in cells] == [
        ("west-kent", "2025-01", 7, 7, {"allocate_service": None, "defer": None})]
    assert (areas_in_register("dover"), areas_in_register("not-a-district")) == (("east-kent",), ("not-a-district",))
