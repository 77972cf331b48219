"""A young person is one person across links: one open placement at a time, whichever ref it started under;
and a backdated placement is judged by the case as it was then."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest

from services.placement.domain import NoPanelAllocation, PlacementBeforeReferral, YoungPersonAlreadyPlaced
from shared.contracts import EventContext
from shared.contracts.placement_vocabulary import PlacementRoute

from .placement_builders import EMERGENCY, Catalogue, days_ago, in_memory_placements

CONTEXT = EventContext(actor="test")


PANEL = PlacementRoute.panel


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(in_memory_placements())


def test_a_case_linked_to_another_person_keeps_its_open_placement(catalogue):
    store, scheme = catalogue.store, catalogue.scheme(capacity_units=5)
    case = catalogue.case()
    store.start_placement(CONTEXT, case_id=case.case_id, scheme_id=scheme, route=PANEL, occurred_at=days_ago(10))
    known_person = uuid4()
    store.cases.remember(replace(case, person_ref=known_person, person_refs=(case.person_ref, known_person)))

    with pytest.raises(YoungPersonAlreadyPlaced):
        store.start_placement(CONTEXT, case_id=case.case_id, scheme_id=scheme, route=PANEL, occurred_at=days_ago(5))
    assert store.current_placement(known_person).case_id == case.case_id


def test_a_case_unlinked_takes_its_placement_with_it(catalogue):
    store, scheme = catalogue.store, catalogue.scheme(capacity_units=5)
    shared_person = uuid4()
    first = catalogue.case(person_ref=shared_person, person_refs=(shared_person,))
    own = uuid4()
    second = catalogue.case(person_ref=shared_person, person_refs=(own, shared_person))
    store.start_placement(CONTEXT, case_id=second.case_id, scheme_id=scheme, route=PANEL, occurred_at=days_ago(10))
    store.cases.remember(replace(second, person_ref=own))  # unlinked: a person of its own again

    placed, _ = store.start_placement(CONTEXT, case_id=first.case_id, scheme_id=scheme, route=PANEL,
                                      occurred_at=days_ago(5))

    assert placed.case_id == first.case_id
    with pytest.raises(YoungPersonAlreadyPlaced):
        store.start_placement(CONTEXT, case_id=second.case_id, scheme_id=scheme, route=PANEL, occurred_at=days_ago(4))


def test_a_placement_backdated_before_the_panel_allocated_a_service_is_refused_unless_emergency(catalogue):
    store = catalogue.store
    case = catalogue.case(allocated=True, allocated_at=days_ago(10))

    with pytest.raises(NoPanelAllocation):
        store.start_placement(CONTEXT, case_id=case.case_id, scheme_id=catalogue.scheme(), route=PANEL,
                              occurred_at=days_ago(15))
    emergency, _ = store.start_placement(CONTEXT, case_id=case.case_id, scheme_id=catalogue.scheme(**EMERGENCY),
                                         route=PlacementRoute.emergency, occurred_at=days_ago(15))
    assert emergency.open


def test_a_placement_dated_while_the_case_was_closed_is_refused(catalogue):
    case = catalogue.case(reopened_at=days_ago(5))

    with pytest.raises(PlacementBeforeReferral):
        catalogue.store.start_placement(CONTEXT, case_id=case.case_id, scheme_id=catalogue.scheme(**EMERGENCY),
                                        route=PlacementRoute.emergency, occurred_at=days_ago(12))


def test_ending_a_placement_frees_the_unit_it_still_held_on_a_planned_overlap(catalogue):
    from datetime import timedelta

    from shared.contracts.placement_vocabulary import Destination, MoveDirection

    store = catalogue.store
    first, second = catalogue.scheme(capacity_units=1), catalogue.scheme()
    placement, _ = store.start_placement(CONTEXT, case_id=catalogue.case().case_id, scheme_id=first, route=PANEL,
                                         occurred_at=days_ago(20))
    store.move_placement(CONTEXT, placement.id, to_scheme_id=second, direction=MoveDirection.lateral, planned=True,
                         overlap_until=days_ago(10).date() + timedelta(days=20), occurred_at=days_ago(10))

    store.end_placement(CONTEXT, placement.id, planned=True, destination=Destination.social_rented,
                        occurred_at=days_ago(5))

    other, _ = store.start_placement(CONTEXT, case_id=catalogue.case().case_id, scheme_id=first, route=PANEL,
                                     occurred_at=days_ago(4))
    assert other.scheme_id == first
