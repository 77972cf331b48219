"""Placement events stored before issue 11's split still read: version 1 SchemeRegistered, PlacementEnded and
PlacementBrokeDown JSON goes through `parse_event` and its upcasters; the retired words are never written again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.placement.domain import Scheme
from shared.contracts import parse_event
from shared.contracts.placement import SchemeRegistered
from shared.contracts.placement_vocabulary import (
    KENT_SHORT_TERM_ROWS,
    BreakdownReason,
    Destination,
    PlacementRoute,
    ProvisionType,
)

from .placement_builders import Catalogue, days_ago, in_memory_placements

PANEL = PlacementRoute.panel



def stored_v1(event: Any, **old: Any) -> str:
    """The JSON of `event` as version 1 stored it, with the old values given."""
    return json.dumps(event.model_dump(mode="json") | {"schema_version": 1} | old)


@pytest.fixture
def history() -> dict[str, Any]:
    """A foyer placement that ended, and another that broke down, as the store records them."""
    store = in_memory_placements()
    catalogue = Catalogue(store)
    foyer = catalogue.scheme()
    ended, broke_down = (store.start_placement(catalogue.context, case_id=catalogue.case().case_id, scheme_id=foyer,
                                               route=PANEL, occurred_at=days_ago(20))[0] for _ in range(2))
    store.end_placement(catalogue.context, ended.id, planned=False, destination=Destination.other,
                        occurred_at=days_ago(5))
    store.record_breakdown(catalogue.context, broke_down.id, reason=BreakdownReason.evicted_by_provider,
                           destination=Destination.friends_or_family, occurred_at=days_ago(5))
    events = [parse_event(n.state) for n in store.recorder.select_notifications(1, 100)]
    return {e.event_type: e for e in events}


def test_a_version_1_visiting_floating_support_scheme_reads_as_accommodation_based_visiting_support(history):
    stored = stored_v1(history["SchemeRegistered"], provision_type="visiting_floating_support")

    event = parse_event(stored)

    assert (event.schema_version, event.provision_type) == (2, ProvisionType.visiting_support)
    assert parse_event(stored_v1(history["SchemeRegistered"])).provision_type is ProvisionType.foyer


def test_a_scheme_replayed_from_version_1_events_is_visiting_support_and_still_takes_placements(history):
    stored = stored_v1(history["SchemeRegistered"], provision_type="visiting_floating_support")

    scheme = Scheme.from_history([parse_event(stored)])

    assert scheme.provision_type is ProvisionType.visiting_support


@pytest.mark.parametrize("event_type", ["PlacementEnded", "PlacementBrokeDown"])
def test_a_version_1_other_or_not_known_departure_reads_as_not_known(history, event_type):
    upcast = parse_event(stored_v1(history[event_type], destination="other_or_not_known"))
    kept = parse_event(stored_v1(history[event_type], destination="custody"))

    assert (upcast.event_type, upcast.schema_version, upcast.destination) == (event_type, 2, Destination.not_known)
    assert kept.destination is Destination.custody


def test_a_version_2_event_never_carries_a_retired_word(history):
    with pytest.raises(ValidationError, match="split into visiting_support and floating_support"):
        SchemeRegistered.model_validate(history["SchemeRegistered"].model_dump() | {
            "provision_type": ProvisionType.visiting_floating_support})
    with pytest.raises(ValidationError, match="split into other and not_known"):
        parse_event(history["PlacementEnded"].model_dump(mode="json") | {"destination": "other_or_not_known"})


def test_a_placement_stored_in_a_visiting_floating_support_scheme_reads_as_visiting_support(history):
    started = history["PlacementStarted"].model_dump(mode="json") | {"provision_type": "visiting_floating_support"}

    assert parse_event(started).provision_type is ProvisionType.visiting_support


def test_other_and_not_known_both_count_as_kents_other_or_abandoned_and_are_never_planned():
    assert KENT_SHORT_TERM_ROWS[(False, Destination.other)] == "Other/Abandoned"
    assert KENT_SHORT_TERM_ROWS[(False, Destination.not_known)] == "Other/Abandoned"
    assert (True, Destination.not_known) not in KENT_SHORT_TERM_ROWS
    assert not Destination.not_known.can_be_planned and Destination.other.can_be_planned
    assert BreakdownReason.safeguarding.usual_destination is Destination.not_known
