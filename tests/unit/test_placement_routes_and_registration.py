"""Issue 11 in the placement service: placement routes under each district's dated rule, Ofsted registration of
supported accommodation, each scheme's own dated stay limits, checked move directions, and version 1 events
still read."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from services.placement.domain import (
    EmergencyPlacementOutsideAssessment,
    MoveInTheWrongDirection,
    NoPanelAllocation,
    NoSuchOfstedRegistration,
    OfstedRegistrationsWouldOverlap,
    PathwayPlanOnlyForCareLeavers,
    Placement,
    PlacementRules,
    PlannedMoveHasNoReason,
    Scheme,
    StayLimitsChangeBeforeTheLastOne,
    StayLimitsChangeBeforeTheSchemeOpened,
    SupportedAccommodationRule,
    TargetStayLongerThanMaximum,
    UnplannedMoveNeedsAReason,
    UnregisteredSupportedAccommodation,
    placement_id_for,
)
from services.placement.domain.placement import DatedStatus
from services.placement.national_rules import supported_accommodation_rule
from shared.contracts import EventContext, parse_event
from shared.contracts.placement import PlacementMoved, PlacementStarted, SchemeStayLimitsChanged
from shared.contracts.placement_vocabulary import MoveDirection, MoveReason, PlacementRoute, ProvisionType
from shared.contracts.vocabulary import Cohort, LegalStatus, Level

from .placement_builders import (
    CORE_24_7,
    EMERGENCY,
    NATIONAL,
    NOW,
    OPENED_ON,
    SUPPORTED_LODGINGS,
    Catalogue,
    a_known_case,
    a_looked_after_16_17_case,
    a_register,
    a_scheme,
    days_ago,
    in_memory_placements,
    night,
    rules,
)

KEY = b"placement ids of the tests"
R = PlacementRoute


def start(scheme: Scheme, case=None, route=R.panel, at=None, rules_in_force=None) -> Placement:
    case = case or a_known_case()
    return Placement.start(case=case, number=1, previous=None, scheme=scheme, route=route,
                           rules=rules_in_force or rules(R.panel, R.placement_team),
                           placement_id=placement_id_for(case.person_ref, 1, KEY), occurred_at=at or days_ago(10),
                           now=NOW)


def registered(scheme: Scheme, since: date = OPENED_ON, until: date | None = None) -> Scheme:
    scheme.record_ofsted_registration(number="2712345", registered_from=since, registered_until=until,
                                      occurred_at=days_ago(440), now=NOW)
    return scheme


# -- routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "scheme", "case"), [
    (R.panel, {}, {}),
    (R.placement_team, {}, {}),
    (R.pathway_plan, {}, {"legal_status": LegalStatus.relevant, "under_18": True}),
    (R.emergency, EMERGENCY, {}),
    (R.children_services, SUPPORTED_LODGINGS, {}),
], ids=[route.value for route in R])
def test_a_placement_is_made_by_each_route_and_records_it(route, scheme, case):
    placement = start(registered(a_scheme(**scheme)), case=a_known_case(**case), route=route)

    [started] = placement.collect_events()
    assert isinstance(started, PlacementStarted) and started.route is route and placement.route is route


@pytest.mark.parametrize("route", list(R), ids=[route.value for route in R])
def test_a_route_needs_a_panel_allocation_only_where_the_districts_rule_says_so(route):
    scheme = a_scheme(**EMERGENCY) if route is R.emergency else a_scheme()
    waiting = a_known_case(allocated=False, legal_status=LegalStatus.former_relevant)

    with pytest.raises(NoPanelAllocation, match=f"by {route.value}"):
        start(scheme, case=waiting, route=route, rules_in_force=rules(*R))
    assert start(scheme, case=waiting, route=route, rules_in_force=rules(R.panel) if route is not R.panel
                 else rules(R.placement_team)).route is route


def test_the_store_asks_the_district_register_for_the_rule_of_the_cases_district_on_the_placements_day():
    since = night(30)
    store = in_memory_placements(a_register(since=since, preston=[R.panel, R.placement_team], dover=[R.panel]))
    catalogue = Catalogue(store)
    scheme = catalogue.scheme(capacity_units=5)
    in_preston, in_dover = catalogue.case(allocated=False), catalogue.case(district="dover", allocated=False)
    before_the_rule = catalogue.case(allocated=False)

    with pytest.raises(NoPanelAllocation, match="district preston"):
        store.start_placement(catalogue.context, case_id=in_preston.case_id, scheme_id=scheme,
                              route=R.placement_team, occurred_at=days_ago(10))
    placed, _ = store.start_placement(catalogue.context, case_id=in_dover.case_id, scheme_id=scheme,
                                      route=R.placement_team, occurred_at=days_ago(10))
    earlier, _ = store.start_placement(catalogue.context, case_id=before_the_rule.case_id, scheme_id=scheme,
                                       route=R.placement_team, occurred_at=days_ago(31))  # only the panel then

    assert (placed.route, earlier.route) == (R.placement_team, R.placement_team)


def test_an_emergency_placement_goes_into_an_assessment_scheme_only():
    with pytest.raises(EmergencyPlacementOutsideAssessment):
        start(a_scheme(), route=R.emergency, rules_in_force=rules(R.panel))


def test_a_pathway_plan_placement_is_a_care_leavers_only_by_their_status_on_the_day():
    became_eligible = days_ago(20)
    case = a_known_case(cohort=Cohort.looked_after_16_17, legal_status=LegalStatus.eligible, under_18=True,
                        statuses=(DatedStatus(days_ago(300), LegalStatus.not_looked_after, Cohort.homeless_16_17),
                                  DatedStatus(became_eligible, LegalStatus.eligible, Cohort.care_leaver)))

    with pytest.raises(PathwayPlanOnlyForCareLeavers, match="not_looked_after"):
        start(a_scheme(), case=case, route=R.pathway_plan, at=days_ago(25))
    placement = start(registered(a_scheme()), case=case, route=R.pathway_plan, at=days_ago(15))
    assert placement.cohort is Cohort.care_leaver  # the cohort on the day


# -- Ofsted registration of supported accommodation -------------------------------------------------


def test_an_unregistered_supported_accommodation_placement_of_a_looked_after_16_year_old_is_refused():
    unregistered, registered_foyer = a_scheme(), registered(a_scheme())
    case = a_looked_after_16_17_case()

    with pytest.raises(UnregisteredSupportedAccommodation):
        start(unregistered, case=case)
    assert unregistered.collect_events()[-1].event_type == "SchemeRegistered"  # no unit let
    assert start(registered_foyer, case=case).scheme_id == registered_foyer.id


@pytest.mark.parametrize("case", [
    a_known_case(),  # a former relevant care leaver of 20
    a_known_case(cohort=Cohort.homeless_16_17, legal_status=LegalStatus.not_looked_after, under_18=True),
    a_looked_after_16_17_case(under_18=False, adult_from=days_ago(30)),
], ids=["18 or over", "not looked after", "turned 18 before the placement"])
def test_the_registration_rule_protects_only_looked_after_and_care_leaving_16_17_year_olds(case):
    assert start(a_scheme(), case=case).open


def test_provision_other_than_supported_accommodation_needs_no_registration():
    tenancy = a_scheme(name="Own Flat", provision_type=ProvisionType.social_tenancy)

    assert start(tenancy, case=a_looked_after_16_17_case()).open


def test_the_rule_applies_from_its_day_and_to_registrations_ended_or_not_yet_begun():
    case = a_looked_after_16_17_case()
    rule_from_20_days_ago = SupportedAccommodationRule(((night(20), frozenset({ProvisionType.foyer})),))
    lapsed = registered(a_scheme(), since=OPENED_ON, until=night(12))

    assert start(a_scheme(), case=case, at=days_ago(21), rules_in_force=PlacementRules(
        routes_needing_panel=frozenset({R.panel}), supported_accommodation=rule_from_20_days_ago)).open
    assert start(lapsed, case=case, at=days_ago(13)).open
    with pytest.raises(UnregisteredSupportedAccommodation, match=night(12).isoformat()):
        start(lapsed, case=case, at=days_ago(12))


def test_a_move_into_unregistered_supported_accommodation_is_refused_too():
    leaving, unregistered, registered_core = registered(a_scheme()), a_scheme(**CORE_24_7), registered(
        a_scheme(**CORE_24_7))
    case = a_looked_after_16_17_case()
    placement = start(leaving, case=case, at=days_ago(20))

    def move(to):
        placement.move(leaving=leaving, to=to, direction=MoveDirection.step_up, planned=True, overlap_until=None,
                       occurred_at=days_ago(5), now=NOW, case=case, supported_accommodation=NATIONAL)

    with pytest.raises(UnregisteredSupportedAccommodation, match="the move"):
        move(unregistered)
    move(registered_core)
    assert placement.scheme_id == registered_core.id


def test_a_schemes_registration_is_dated_and_one_at_a_time():
    scheme = registered(a_scheme(), since=night(100))

    with pytest.raises(OfstedRegistrationsWouldOverlap):
        scheme.record_ofsted_registration(number="2799999", registered_from=night(50), registered_until=None,
                                          occurred_at=days_ago(1), now=NOW)
    with pytest.raises(NoSuchOfstedRegistration):
        scheme.end_ofsted_registration(number="2799999", ended_on=night(10), occurred_at=days_ago(1), now=NOW)
    scheme.end_ofsted_registration(number="2712345", ended_on=night(10), occurred_at=days_ago(1), now=NOW)
    scheme.record_ofsted_registration(number="2799999", registered_from=night(5), registered_until=None,
                                      occurred_at=days_ago(1), now=NOW)

    assert [scheme.registration_on(night(n)) is not None for n in (101, 100, 11, 10, 6, 5, 0)] == [
        False, True, True, False, False, True, True]


def test_the_national_rule_is_read_from_dated_configuration(tmp_path):
    shipped = supported_accommodation_rule()
    changed = tmp_path / "national_rules.toml"
    changed.write_text('[[supported_accommodation_registration]]\nfrom = 2023-10-28\nprovision_types = ["foyer"]\n'
                       '[[supported_accommodation_registration]]\nfrom = 2030-01-01\nprovision_types = []\n')

    assert shipped.supported_accommodation_on(date(2023, 10, 27)) == frozenset()
    assert ProvisionType.supported_lodgings in shipped.supported_accommodation_on(date(2023, 10, 28))
    assert ProvisionType.regulated_childrens_placement not in shipped.supported_accommodation_on(date(2024, 1, 1))
    assert supported_accommodation_rule(changed).supported_accommodation_on(date(2029, 1, 1)) == {
        ProvisionType.foyer}
    assert supported_accommodation_rule(changed).supported_accommodation_on(date(2030, 1, 1)) == frozenset()


# -- stay limits ------------------------------------------------------------------------------------


def test_a_schemes_stay_limits_are_its_own_and_change_from_a_day_on():
    scheme = a_scheme(**EMERGENCY, max_stay_days=91, target_stay_days=42)
    scheme.change_stay_limits(max_stay_days=56, target_stay_days=28, effective_from=night(10),
                              occurred_at=days_ago(11), now=NOW)

    [changed] = [e for e in scheme.collect_events() if isinstance(e, SchemeStayLimitsChanged)]
    assert (changed.max_stay_days, changed.target_stay_days, changed.effective_from) == (56, 28, night(10))
    assert (scheme.limits_on(night(11)).max_stay_days, scheme.limits_on(night(10)).max_stay_days) == (91, 56)
    with pytest.raises(StayLimitsChangeBeforeTheLastOne):
        scheme.change_stay_limits(max_stay_days=70, target_stay_days=None, effective_from=night(11),
                                  occurred_at=days_ago(1), now=NOW)
    with pytest.raises(StayLimitsChangeBeforeTheSchemeOpened):
        scheme.change_stay_limits(max_stay_days=70, target_stay_days=None, effective_from=OPENED_ON - timedelta(1),
                                  occurred_at=days_ago(1), now=NOW)
    with pytest.raises(TargetStayLongerThanMaximum):
        scheme.change_stay_limits(max_stay_days=20, target_stay_days=28, effective_from=night(1),
                                  occurred_at=days_ago(1), now=NOW)


def test_a_schemes_snapshot_keeps_its_stay_limits_and_registrations():
    scheme = registered(a_scheme(max_stay_days=365, target_stay_days=180), until=night(3))
    scheme.change_stay_limits(max_stay_days=None, target_stay_days=200, effective_from=night(10),
                              occurred_at=days_ago(11), now=NOW)

    again = Scheme.from_snapshot(scheme.id, scheme.version, json.loads(json.dumps(scheme.to_snapshot())))

    assert again.stay_limits == scheme.stay_limits and again.ofsted_registrations == scheme.ofsted_registrations
    assert Scheme.SNAPSHOT_FORMAT == 2


# -- moves ------------------------------------------------------------------------------------------


MEDIUM_10 = {"support_level": Level.medium, "support_hours_per_week": 10.0}


@pytest.mark.parametrize(("to", "direction"), [
    ({"support_level": Level.high, "support_hours_per_week": 5.0}, MoveDirection.step_up),
    ({"support_level": Level.medium, "support_hours_per_week": 12.0}, MoveDirection.step_up),
    ({"support_level": Level.low, "support_hours_per_week": 20.0}, MoveDirection.step_down),
    ({"support_level": Level.medium, "support_hours_per_week": 6.0}, MoveDirection.step_down),
    ({"support_level": Level.medium, "support_hours_per_week": 15.0}, MoveDirection.lateral),
], ids=["higher level", "same level more hours", "lower level", "same level fewer hours", "same level"])
def test_a_move_in_its_direction_is_recorded(to, direction):
    leaving, target = a_scheme(**MEDIUM_10), a_scheme(**to)
    placement = start(leaving, at=days_ago(20))

    placement.move(leaving=leaving, to=target, direction=direction, planned=True, overlap_until=None,
                   occurred_at=days_ago(5), now=NOW, case=a_known_case(), supported_accommodation=NATIONAL)

    assert placement.collect_events()[-1].direction is direction


@pytest.mark.parametrize(("to", "direction"), [
    ({"support_level": Level.low, "support_hours_per_week": 20.0}, MoveDirection.step_up),
    ({"support_level": Level.medium, "support_hours_per_week": 10.0}, MoveDirection.step_up),
    ({"support_level": Level.high, "support_hours_per_week": 2.0}, MoveDirection.step_down),
    ({"support_level": Level.high, "support_hours_per_week": 10.0}, MoveDirection.lateral),
], ids=["step up to a lower level", "step up to the same support", "step down to a higher level",
        "lateral to another level"])
def test_a_move_in_the_wrong_direction_is_refused_and_records_nothing(to, direction):
    leaving, target = a_scheme(**MEDIUM_10), a_scheme(**to)
    placement = start(leaving, at=days_ago(20))
    placement.collect_events(), leaving.collect_events(), target.collect_events()

    with pytest.raises(MoveInTheWrongDirection):
        placement.move(leaving=leaving, to=target, direction=direction, planned=True, overlap_until=None,
                       occurred_at=days_ago(5), now=NOW, case=a_known_case(), supported_accommodation=NATIONAL)
    assert placement.collect_events() == leaving.collect_events() == target.collect_events() == []


def test_an_unplanned_move_says_why_and_a_planned_one_does_not():
    leaving, to = a_scheme(), a_scheme()
    placement = start(leaving, at=days_ago(20))
    moving = {"leaving": leaving, "to": to, "direction": MoveDirection.lateral, "overlap_until": None,
              "occurred_at": days_ago(5), "now": NOW, "case": a_known_case(), "supported_accommodation": NATIONAL}

    with pytest.raises(UnplannedMoveNeedsAReason):
        placement.move(planned=False, **moving)
    with pytest.raises(PlannedMoveHasNoReason):
        placement.move(planned=True, reason=MoveReason.safeguarding, **moving)
    placement.move(planned=False, reason=MoveReason.safeguarding, **moving)

    assert placement.collect_events()[-1].reason is MoveReason.safeguarding


# -- version 1 events ---------------------------------------------------------------------------------


def version_1(event, **old_fields) -> str:
    payload = {k: v for k, v in json.loads(event.model_dump_json()).items() if k not in ("route", "reason")}
    return json.dumps(payload | {"schema_version": 1} | old_fields)


@pytest.mark.parametrize(("allocated_by_panel", "route"), [(True, R.panel), (False, R.emergency)])
def test_a_version_1_placement_started_is_read_with_the_route_its_panel_allocation_implied(allocated_by_panel, route):
    placement = start(a_scheme(**EMERGENCY), route=R.placement_team)
    [started] = placement.collect_events()

    read = parse_event(version_1(started, allocated_by_panel=allocated_by_panel))

    assert isinstance(read, PlacementStarted) and (read.schema_version, read.route) == (2, route)
    assert "allocated_by_panel" not in read.model_dump()


def test_a_version_1_placement_moved_is_read_with_no_reason():
    leaving, to = a_scheme(), a_scheme()
    placement = start(leaving, at=days_ago(20))
    placement.move(leaving=leaving, to=to, direction=MoveDirection.lateral, planned=False,
                   reason=MoveReason.needs_increased, overlap_until=None, occurred_at=days_ago(5), now=NOW,
                   case=a_known_case(), supported_accommodation=NATIONAL)
    moved = placement.collect_events()[-1]

    read = parse_event(version_1(moved).encode())

    assert isinstance(read, PlacementMoved) and (read.schema_version, read.reason) == (2, None)
    assert (read.direction, read.from_scheme_id) == (MoveDirection.lateral, leaving.id)


def test_a_store_replays_a_placement_recorded_under_version_1():
    store = in_memory_placements()
    catalogue = Catalogue(store)
    scheme_id, case = catalogue.scheme(), catalogue.case()
    placed, _ = store.start_placement(EventContext(actor="test"), case_id=case.case_id, scheme_id=scheme_id,
                                      route=R.panel, occurred_at=days_ago(3))
    [started] = [n for n in store.recorder.select_notifications(1, 100) if b"PlacementStarted" in n.state]
    old = json.loads(started.state)
    assert old["route"] == "panel" and old["schema_version"] == 2
    del old["route"]

    replayed = parse_event(json.dumps(old | {"schema_version": 1, "allocated_by_panel": False}))

    assert replayed.route is R.emergency and replayed.placement_id == placed.id
