"""The placement rules on the aggregates alone: schemes and their units, placements and their stays."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.placement.domain import (
    CapacityBelowOccupancy,
    CaseIsClosed,
    DestinationCannotBePlanned,
    EventDatedInTheFuture,
    LeavingBeforeCountedNights,
    MoveDatedBeforeTheStay,
    MoveIntoSchemeStillHeld,
    MoveToTheSameScheme,
    NightsAlreadyRecorded,
    NightsOutsideTheBedAndBreakfastStay,
    NoPanelAllocation,
    NotABedAndBreakfastPlacement,
    OverlapMustBePlanned,
    OverlapMustEndAfterTheMove,
    OverlapTooLong,
    Placement,
    PlacementAlreadyEnded,
    PlacementBeforeReferral,
    PlacementEndsBeforeItStarted,
    PlacementsWouldOverlap,
    PlacementWouldExceedCapacity,
    SchemeNotOpen,
    TargetStayLongerThanMaximum,
    YoungPersonAlreadyPlaced,
    placement_id_for,
)
from shared.contracts.placement import (
    NO_CASE,
    PlacementMoved,
    PlacementStarted,
    ProviderRegistered,
    UnitAllocated,
    UnitReleased,
)
from shared.contracts.placement_vocabulary import (
    KENT_SHORT_TERM_ROWS,
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
)

from .placement_builders import (
    BED_AND_BREAKFAST,
    CLUSTER,
    CORE_24_7,
    EMERGENCY,
    NATIONAL,
    NOW,
    SUPPORTED_LODGINGS,
    a_known_case,
    a_provider,
    a_scheme,
    days_ago,
    night,
    rules,
)

KEY = b"placement ids of the tests"


def start(scheme, case=None, at=None, number=1, previous=None, route=PlacementRoute.panel,
          rules_in_force=None) -> Placement:
    case = case or a_known_case()
    return Placement.start(case=case, number=number, previous=previous, scheme=scheme, route=route,
                           rules=rules_in_force or rules(PlacementRoute.panel, PlacementRoute.placement_team),
                           placement_id=placement_id_for(case.person_ref, number, KEY),
                           occurred_at=at or days_ago(10), now=NOW)


MOVING = {"case": a_known_case(), "supported_accommodation": NATIONAL}
"""What every move is also decided with: the young person's case (a 20-year-old), the national rule."""


def saved(*aggregates) -> None:
    """What a store does on save: take the aggregates' new events."""
    for aggregate in aggregates:
        aggregate.collect_events()


# -- schemes and their units ----------------------------------------------------------------------


def test_a_scheme_lets_its_units_up_to_its_capacity_and_refuses_the_next():
    scheme = a_scheme(capacity_units=2)
    start(scheme)
    start(scheme)

    with pytest.raises(PlacementWouldExceedCapacity, match="2 of its 2 units are let"):
        start(scheme)
    assert scheme.occupied_on(night(0)) == 2 and scheme.vacant_on(night(0)) == 0


def test_a_unit_released_can_be_let_again_from_the_night_it_was_released():
    scheme = a_scheme(capacity_units=1)
    first = start(scheme, at=days_ago(20))
    first.end(scheme=scheme, planned=True, destination=Destination.social_rented, occurred_at=days_ago(5), now=NOW)

    with pytest.raises(PlacementWouldExceedCapacity):
        start(scheme, at=days_ago(6))
    start(scheme, at=days_ago(5))
    assert [n.occupied for n in scheme.occupancy(night(7), night(3))] == [1, 1, 1, 1, 1]


def test_a_backdated_start_is_refused_when_a_later_letting_would_be_over_capacity():
    scheme = a_scheme(capacity_units=1)
    early = start(scheme, at=days_ago(30))
    early.end(scheme=scheme, planned=True, destination=Destination.private_rented, occurred_at=days_ago(20), now=NOW)
    start(scheme, at=days_ago(10))

    with pytest.raises(PlacementWouldExceedCapacity, match=str(night(10))):
        start(scheme, at=days_ago(15))  # free on nights 15..11, but not from night 10 on


def test_no_unit_is_let_before_the_scheme_opens():
    scheme = a_scheme(opened_on=night(5))

    with pytest.raises(SchemeNotOpen):
        start(scheme, at=days_ago(6))


def test_occupancy_per_night_gives_capacity_units_let_and_voids():
    scheme = a_scheme(capacity_units=3)
    start(scheme, at=days_ago(4))
    leaving = start(scheme, at=days_ago(3))
    leaving.break_down(scheme=scheme, reason=BreakdownReason.abandonment, destination=None,
                       occurred_at=days_ago(1), now=NOW)

    nights = scheme.occupancy(night(5), night(0))

    assert [(n.capacity, n.occupied, n.void) for n in nights] == [
        (3, 0, 3), (3, 1, 2), (3, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 2)]


def test_capacity_can_grow_from_a_day_on_but_never_fall_below_the_units_let():
    scheme = a_scheme(capacity_units=1)
    start(scheme, at=days_ago(10))
    scheme.change_capacity(units=2, effective_from=night(5), occurred_at=days_ago(6), now=NOW)

    with pytest.raises(PlacementWouldExceedCapacity):
        start(scheme, at=days_ago(6))
    start(scheme, at=days_ago(5))
    with pytest.raises(CapacityBelowOccupancy):
        scheme.change_capacity(units=1, effective_from=night(1), occurred_at=days_ago(1), now=NOW)
    assert [n.capacity for n in scheme.occupancy(night(6), night(5))] == [1, 2]


def test_an_emergency_scheme_has_the_stay_limits_it_is_registered_with_and_no_others():
    derby = a_scheme(**EMERGENCY, max_stay_days=91, target_stay_days=42)
    elsewhere = a_scheme(**EMERGENCY, max_stay_days=120)

    assert (derby.limits_on(night(0)).max_stay_days, derby.limits_on(night(0)).target_stay_days) == (91, 42)
    assert (elsewhere.limits_on(night(0)).max_stay_days, elsewhere.limits_on(night(0)).target_stay_days) == (120, None)
    assert a_scheme(**EMERGENCY).limits_on(night(0)).max_stay_days is None
    with pytest.raises(TargetStayLongerThanMaximum):
        a_scheme(max_stay_days=100, target_stay_days=200)


def test_catalogue_events_are_about_no_case():
    provider = a_provider()
    [event] = provider.collect_events()

    assert isinstance(event, ProviderRegistered) and event.case_id == event.person_ref == NO_CASE
    with pytest.raises(ValidationError, match="nil UUID"):
        ProviderRegistered(**(event.model_dump() | {"case_id": uuid4()}))


# -- starting a placement -------------------------------------------------------------------------


def test_a_placement_starts_with_the_case_and_scheme_facts_and_lets_a_unit_in_the_same_change():
    scheme, case = a_scheme(), a_known_case(district="burnley")
    placement = start(scheme, case=case, at=days_ago(3))

    [started] = placement.collect_events()
    [allocated] = [e for e in scheme.collect_events() if isinstance(e, UnitAllocated)]
    assert isinstance(started, PlacementStarted)
    assert (started.case_id, started.person_ref, started.district) == (case.case_id, case.person_ref, "burnley")
    assert (started.scheme_id, started.scheme_district, started.placement_number) == (scheme.id, "preston", 1)
    assert started.route is PlacementRoute.panel and started.schema_version == 2
    assert (allocated.placement_id, allocated.from_night, allocated.district) == (placement.id, night(3), "preston")
    assert allocated.case_id == NO_CASE


def test_a_young_persons_placement_ids_follow_from_their_person_ref_and_number():
    person_ref = uuid4()

    assert placement_id_for(person_ref, 2, KEY) == placement_id_for(person_ref, 2, KEY)
    assert placement_id_for(person_ref, 1, KEY) != placement_id_for(person_ref, 2, KEY)
    assert placement_id_for(person_ref, 2, KEY) != placement_id_for(uuid4(), 2, KEY)
    assert placement_id_for(person_ref, 2, KEY) != placement_id_for(person_ref, 2, b"another deployment's key")


def test_nobody_is_placed_before_their_referral():
    case = a_known_case(referred_at=days_ago(5))
    scheme = a_scheme()

    with pytest.raises(PlacementBeforeReferral):
        start(scheme, case=case, at=days_ago(6))
    assert start(scheme, case=case, at=days_ago(5)).scheme_id == scheme.id


def test_a_closed_case_cannot_be_placed():
    with pytest.raises(CaseIsClosed):
        start(a_scheme(), case=a_known_case(open=False))


def test_a_route_the_district_needs_a_panel_for_is_refused_before_a_panel_allocates_a_service():
    waiting = a_known_case(allocated=False)

    with pytest.raises(NoPanelAllocation, match="by panel"):
        start(a_scheme(), case=waiting)
    with pytest.raises(NoPanelAllocation, match="by placement_team"):
        start(a_scheme(), case=waiting, route=PlacementRoute.placement_team)
    emergency = start(a_scheme(**EMERGENCY), case=waiting, route=PlacementRoute.emergency)
    assert emergency.collect_events()[0].route is PlacementRoute.emergency


def test_a_young_person_in_a_placement_cannot_start_another():
    case = a_known_case()
    first = start(a_scheme(), case=case)

    with pytest.raises(YoungPersonAlreadyPlaced):
        start(a_scheme(), case=case, number=2, previous=first)


def test_a_placement_cannot_start_before_the_young_persons_previous_placement_ended():
    case, scheme = a_known_case(), a_scheme()
    first = start(scheme, case=case, at=days_ago(20))
    first.end(scheme=scheme, planned=True, destination=Destination.previous_home, occurred_at=days_ago(10), now=NOW)

    with pytest.raises(PlacementsWouldOverlap):
        start(a_scheme(), case=case, number=2, previous=first, at=days_ago(11))
    assert start(a_scheme(), case=case, number=2, previous=first, at=days_ago(10)).number == 2


def test_a_placement_in_a_full_scheme_records_nothing_anywhere():
    scheme = a_scheme(capacity_units=1)
    start(scheme)
    saved(scheme)

    with pytest.raises(PlacementWouldExceedCapacity):
        start(scheme)
    assert scheme.collect_events() == []


def test_nothing_is_recorded_as_having_happened_after_now():
    with pytest.raises(EventDatedInTheFuture):
        start(a_scheme(), at=NOW + timedelta(hours=1))


# -- moves, ends and breakdowns -------------------------------------------------------------------


def test_a_young_person_steps_up_then_down_through_three_schemes():
    lodgings, core, cluster = a_scheme(**SUPPORTED_LODGINGS), a_scheme(**CORE_24_7), a_scheme(**CLUSTER)
    placement = start(lodgings, at=days_ago(60))
    placement.move(**MOVING, leaving=lodgings, to=core, direction=MoveDirection.step_up, planned=False,
                   reason=MoveReason.needs_increased, overlap_until=None, occurred_at=days_ago(40), now=NOW)
    placement.move(**MOVING, leaving=core, to=cluster, direction=MoveDirection.step_down, planned=True,
                   overlap_until=None, occurred_at=days_ago(10), now=NOW)

    moves = [e for e in placement.collect_events() if isinstance(e, PlacementMoved)]
    assert [(m.from_scheme_id, m.scheme_id, m.direction) for m in moves] == [
        (lodgings.id, core.id, MoveDirection.step_up), (core.id, cluster.id, MoveDirection.step_down)]
    assert [m.days_in_previous_scheme for m in moves] == [20, 30]
    assert [s.scheme_id for s in placement.stays] == [lodgings.id, core.id, cluster.id]
    assert (lodgings.occupied_on(night(0)), core.occupied_on(night(0)), cluster.occupied_on(night(0))) == (0, 0, 1)
    assert core.occupied_on(night(11)) == 1 and core.occupied_on(night(10)) == 0


def test_a_move_into_a_full_scheme_is_refused_and_records_nothing_anywhere():
    leaving, full = a_scheme(), a_scheme(capacity_units=1)
    placement = start(leaving, at=days_ago(20))
    start(full, at=days_ago(20))
    saved(leaving, full, placement)

    with pytest.raises(PlacementWouldExceedCapacity):
        placement.move(**MOVING, leaving=leaving, to=full, direction=MoveDirection.lateral, planned=True,
                       overlap_until=None, occurred_at=days_ago(2), now=NOW)
    assert leaving.collect_events() == full.collect_events() == placement.collect_events() == []
    assert placement.scheme_id == leaving.id and leaving.occupied_on(night(0)) == 1


def test_a_planned_move_may_keep_the_unit_left_behind_until_the_overlap_ends():
    leaving, to = a_scheme(), a_scheme()
    placement = start(leaving, at=days_ago(20))
    placement.move(**MOVING, leaving=leaving, to=to, direction=MoveDirection.lateral, planned=True,
                   overlap_until=night(3), occurred_at=days_ago(6), now=NOW)

    [released] = [e for e in leaving.collect_events() if isinstance(e, UnitReleased)]
    assert released.released_on == night(3)
    assert [leaving.occupied_on(night(n)) for n in (6, 5, 4, 3)] == [1, 1, 1, 0]
    assert to.occupied_on(night(6)) == 1


@pytest.mark.parametrize(("planned", "overlap_days_after_move", "refusal"), [
    (False, 3, OverlapMustBePlanned),
    (True, 0, OverlapMustEndAfterTheMove),
    (True, 29, OverlapTooLong),
], ids=["unplanned overlap", "overlap ending on the day of the move", "overlap over four weeks"])
def test_an_overlap_on_a_move_must_be_planned_and_end_after_the_move(planned, overlap_days_after_move, refusal):
    leaving, to = a_scheme(), a_scheme()
    placement = start(leaving, at=days_ago(20))

    with pytest.raises(refusal):
        placement.move(**MOVING, leaving=leaving, to=to, direction=MoveDirection.lateral, planned=planned,
                       reason=None if planned else MoveReason.other,
                       overlap_until=night(6 - overlap_days_after_move), occurred_at=days_ago(6), now=NOW)


def test_a_young_person_cannot_move_back_into_a_unit_they_still_hold_on_an_overlap():
    first, second = a_scheme(), a_scheme()
    placement = start(first, at=days_ago(20))
    placement.move(**MOVING, leaving=first, to=second, direction=MoveDirection.lateral, planned=True,
                   overlap_until=night(3), occurred_at=days_ago(10), now=NOW)

    with pytest.raises(MoveIntoSchemeStillHeld):
        placement.move(**MOVING, leaving=second, to=first, direction=MoveDirection.lateral, planned=False,
                       reason=MoveReason.conflict_with_residents, overlap_until=None, occurred_at=days_ago(5), now=NOW)
    assert first.occupied_on(night(5)) == 1


def test_a_placement_cannot_end_or_move_before_nights_counted_in_bed_and_breakfast():
    bed_and_breakfast, foyer = a_scheme(**BED_AND_BREAKFAST), a_scheme()
    placement = start(bed_and_breakfast, at=days_ago(20))
    placement.record_bed_and_breakfast_nights(first_night=night(20), nights=15, now=NOW)

    with pytest.raises(LeavingBeforeCountedNights):
        placement.end(scheme=bed_and_breakfast, planned=True, destination=Destination.social_rented,
                      occurred_at=days_ago(15), now=NOW)
    with pytest.raises(LeavingBeforeCountedNights):
        placement.move(**MOVING, leaving=bed_and_breakfast, to=foyer, direction=MoveDirection.step_up, planned=True,
                       overlap_until=None, occurred_at=days_ago(10), now=NOW)
    placement.end(scheme=bed_and_breakfast, planned=True, destination=Destination.social_rented,
                  occurred_at=days_ago(5), now=NOW)


def test_a_move_to_the_same_scheme_or_before_the_stay_began_is_refused():
    scheme, other = a_scheme(), a_scheme()
    placement = start(scheme, at=days_ago(5))

    with pytest.raises(MoveToTheSameScheme):
        placement.move(**MOVING, leaving=scheme, to=scheme, direction=MoveDirection.lateral, planned=True,
                       overlap_until=None, occurred_at=days_ago(1), now=NOW)
    with pytest.raises(MoveDatedBeforeTheStay):
        placement.move(**MOVING, leaving=scheme, to=other, direction=MoveDirection.lateral, planned=True,
                       overlap_until=None, occurred_at=days_ago(6), now=NOW)


def test_a_placement_cannot_end_before_it_started():
    scheme = a_scheme()
    placement = start(scheme, at=days_ago(5))

    with pytest.raises(PlacementEndsBeforeItStarted):
        placement.end(scheme=scheme, planned=True, destination=Destination.social_rented, occurred_at=days_ago(6),
                      now=NOW)
    with pytest.raises(PlacementEndsBeforeItStarted):
        placement.break_down(scheme=scheme, reason=BreakdownReason.custody, destination=None,
                             occurred_at=days_ago(6), now=NOW)


@pytest.mark.parametrize("destination", [Destination.died, Destination.sleeping_rough, Destination.abandoned])
def test_some_destinations_are_never_a_planned_move_on(destination):
    scheme = a_scheme()
    placement = start(scheme, at=days_ago(5))

    with pytest.raises(DestinationCannotBePlanned):
        placement.end(scheme=scheme, planned=True, destination=destination, occurred_at=days_ago(1), now=NOW)
    placement.end(scheme=scheme, planned=False, destination=destination, occurred_at=days_ago(1), now=NOW)


def test_a_destination_outside_the_taxonomy_is_refused():
    with pytest.raises(ValueError):
        Destination("moved_to_the_moon")


def test_an_ended_placement_takes_no_more_changes():
    scheme, other = a_scheme(), a_scheme()
    placement = start(scheme, at=days_ago(5))
    placement.end(scheme=scheme, planned=True, destination=Destination.social_rented, occurred_at=days_ago(1),
                  now=NOW)

    with pytest.raises(PlacementAlreadyEnded):
        placement.move(**MOVING, leaving=scheme, to=other, direction=MoveDirection.lateral, planned=True,
                       overlap_until=None, occurred_at=days_ago(0, hour=0), now=NOW)
    with pytest.raises(PlacementAlreadyEnded):
        placement.break_down(scheme=scheme, reason=BreakdownReason.young_person_left, destination=None,
                             occurred_at=days_ago(0, hour=0), now=NOW)


@pytest.mark.parametrize(("reason", "destination"), [
    (BreakdownReason.custody, Destination.custody),
    (BreakdownReason.hospital, Destination.hospital_or_care_home),
    (BreakdownReason.abandonment, Destination.abandoned),
    (BreakdownReason.evicted_by_provider, Destination.not_known),
])
def test_a_breakdown_releases_the_unit_and_says_where_the_young_person_went(reason, destination):
    scheme = a_scheme(capacity_units=1)
    placement = start(scheme, at=days_ago(30))
    placement.collect_events()
    placement.break_down(scheme=scheme, reason=reason, destination=None, occurred_at=days_ago(2), now=NOW)

    [broke_down] = placement.collect_events()
    assert (broke_down.reason, broke_down.destination, broke_down.days_in_scheme) == (reason, destination, 28)
    assert scheme.vacant_on(night(2)) == 1 and not placement.open


# -- bed and breakfast nights ---------------------------------------------------------------------


def test_bed_and_breakfast_nights_are_counted_once_each_within_the_stay():
    bed_and_breakfast, foyer = a_scheme(**BED_AND_BREAKFAST), a_scheme()
    placement = start(bed_and_breakfast, case=a_known_case(allocated=False), at=days_ago(10),
                      route=PlacementRoute.emergency)
    placement.move(**MOVING, leaving=bed_and_breakfast, to=foyer, direction=MoveDirection.step_up, planned=True,
                   overlap_until=None, occurred_at=days_ago(4), now=NOW)
    placement.collect_events()

    placement.record_bed_and_breakfast_nights(first_night=night(10), nights=6, now=NOW)

    [recorded] = placement.collect_events()
    assert (recorded.first_night, recorded.nights, recorded.scheme_id) == (night(10), 6, bed_and_breakfast.id)
    with pytest.raises(NightsAlreadyRecorded):
        placement.record_bed_and_breakfast_nights(first_night=night(5), nights=1, now=NOW)
    with pytest.raises(NightsOutsideTheBedAndBreakfastStay):
        placement.record_bed_and_breakfast_nights(first_night=night(11), nights=1, now=NOW)
    with pytest.raises(NightsOutsideTheBedAndBreakfastStay):
        placement.record_bed_and_breakfast_nights(first_night=night(4), nights=1, now=NOW)


def test_bed_and_breakfast_nights_on_a_placement_never_in_bed_and_breakfast_are_refused():
    placement = start(a_scheme(), at=days_ago(10))

    with pytest.raises(NotABedAndBreakfastPlacement):
        placement.record_bed_and_breakfast_nights(first_night=night(9), nights=2, now=NOW)


def test_bed_and_breakfast_nights_yet_to_come_are_refused():
    placement = start(a_scheme(**BED_AND_BREAKFAST), case=a_known_case(allocated=False), at=days_ago(2),
                      route=PlacementRoute.emergency)

    with pytest.raises(EventDatedInTheFuture):
        placement.record_bed_and_breakfast_nights(first_night=night(1), nights=3, now=NOW)


# -- the vocabularies ------------------------------------------------------------------------------


KENT_ROWS = {
    "Planned - Staying with friends/family", "Planned - Supported Housing", "Planned - Rented private",
    "Planned - Social Rented", "Planned - Previous Home", "Planned - Prison", "Planned - Sheltered Housing",
    "Planned - B&B", "Other/Abandoned", "Taken into custody", "Staying with friends/family", "Sleeping Rough",
    "Died", "Hospice/Hospital/Care home", "Unplanned - B&B", "Unplanned - Supported Housing", "Unplanned - Rented",
    "Unplanned - Home",
}
"""Every row of Kent's short-term destination tables, Q2 2013/14 [004 Appendix 3]."""


def test_the_destination_taxonomy_covers_every_row_of_kents_destination_tables():
    assert set(KENT_SHORT_TERM_ROWS.values()) == KENT_ROWS
    assert all(destination.can_be_planned for planned, destination in KENT_SHORT_TERM_ROWS if planned)


def test_the_pathway_has_four_stages_and_an_emergency_scheme_is_at_the_first():
    assert [stage.value for stage in PathwayStage] == ["assessment", "progression", "specialist", "move_on"]
    assert a_scheme(**EMERGENCY).pathway_stage is PathwayStage.assessment


def test_a_unit_free_tonight_but_not_after_a_capacity_cut_is_not_free_to_let():
    scheme = a_scheme(capacity_units=2)
    start(scheme, at=days_ago(10))
    scheme.change_capacity(units=1, effective_from=night(-7), occurred_at=days_ago(1), now=NOW)

    assert scheme.vacant_on(night(0)) == 1
    assert scheme.free_from(night(0)) == 0
    with pytest.raises(PlacementWouldExceedCapacity):
        start(scheme, at=days_ago(0, hour=0), case=a_known_case())  # never later than now


def test_a_placement_ending_during_a_planned_overlap_frees_the_held_unit_from_that_day():
    first, second = a_scheme(capacity_units=1), a_scheme()
    placement = start(first, at=days_ago(20))
    placement.move(**MOVING, leaving=first, to=second, direction=MoveDirection.lateral, planned=True,
                   overlap_until=night(-10), occurred_at=days_ago(10), now=NOW)

    placement.end(scheme=second, planned=True, destination=Destination.social_rented, occurred_at=days_ago(5),
                  now=NOW, holding=[first])

    assert [first.occupied_on(night(n)) for n in (6, 5, 0, -9)] == [1, 0, 0, 0]
    assert start(first, at=days_ago(4), case=a_known_case()).scheme_id == first.id  # the unit is free again
