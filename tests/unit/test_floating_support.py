"""Floating support: an episode attached to the young person, with its own start and end in a floating support
scheme's support place, alongside a placement or in the young person's own home (domain, store and handlers on
the in-memory store)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from services.placement import handlers
from services.placement.application import Placements
from services.placement.domain import (
    DestinationCannotBePlanned,
    DestinationNoLongerRecorded,
    DestinationOnlyForFloatingSupport,
    FloatingSupportAlreadyEnded,
    FloatingSupportBeforeReferral,
    FloatingSupportEndsBeforeItStarted,
    FloatingSupportEpisodesWouldOverlap,
    FloatingSupportNeedsAnOpenCase,
    FloatingSupportNotFound,
    FloatingSupportSchemeTakesNoPlacements,
    NoSupportPlaceFree,
    NotAFloatingSupportScheme,
    ProvisionTypeNoLongerRecorded,
    UnknownCase,
    YoungPersonAlreadyHasFloatingSupport,
    floating_support_episode_id_for,
    placement_id_for,
)
from shared.contracts import parse_event
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    PlacementRoute,
    ProvisionType,
)
from shared.eventstore import IN_MEMORY_ENV

from .floating_support_builders import FLOATING_SUPPORT, a_floating_support_scheme
from .placement_builders import EMERGENCY, Catalogue, days_ago, in_memory_placements, night

PANEL = PlacementRoute.panel



@pytest.fixture
def store() -> Placements:
    return in_memory_placements()


@pytest.fixture
def catalogue(store) -> Catalogue:
    return Catalogue(store)


def start(store: Placements, catalogue: Catalogue, case_id: UUID, scheme_id: UUID, days: int = 10):
    episode, _ = store.start_floating_support(catalogue.context, case_id=case_id, scheme_id=scheme_id,
                                              occurred_at=days_ago(days))
    return episode


def end(store: Placements, catalogue: Catalogue, episode_id: UUID, days: int = 1, *, planned: bool = True,
        destination: Destination = Destination.remained_in_own_home, hours: float | None = None) -> int:
    return store.end_floating_support(catalogue.context, episode_id, planned=planned, destination=destination,
                                      hours_delivered=hours, occurred_at=days_ago(days))


def events_of(store: Placements) -> list:
    return [parse_event(n.state) for n in store.recorder.select_notifications(1, 10_000)]


# -- alongside a placement, or at home --------------------------------------------------------------


def test_floating_support_runs_alongside_a_placement_and_goes_on_after_the_placement_ends(store, catalogue):
    foyer, support = catalogue.scheme(), a_floating_support_scheme(catalogue)
    case = catalogue.case()
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=foyer,
                                         route=PANEL, occurred_at=days_ago(60))

    episode = start(store, catalogue, case.case_id, support, days=30)
    store.end_placement(catalogue.context, placement.id, planned=True, destination=Destination.social_rented,
                        occurred_at=days_ago(20))
    still = store.current_floating_support(case.person_ref)
    end(store, catalogue, episode.id, days=2, hours=45.5)

    assert still.id == episode.id and still.open and not store.get_placement(placement.id).open
    ended = store.get_floating_support(episode.id)
    assert (ended.status, ended.in_placement_id, ended.ending.destination, ended.ending.hours_delivered) == (
        "ended", placement.id, Destination.remained_in_own_home, 45.5)
    assert ended.ending.days_supported == 28
    assert store.current_floating_support(case.person_ref) is None
    scheme = store.get_scheme(support)
    assert (scheme.occupied_on(night(25)), scheme.occupied_on(night(1))) == (1, 0)
    kinds = [(e.event_type, getattr(e, "destination", None)) for e in events_of(store)
             if e.event_type.startswith(("Floating", "PlacementEnded"))]
    assert kinds == [("FloatingSupportStarted", None), ("PlacementEnded", Destination.social_rented),
                     ("FloatingSupportEnded", Destination.remained_in_own_home)]


def test_floating_support_in_the_young_persons_own_home_needs_no_placement_and_no_panel(store, catalogue):
    support = a_floating_support_scheme(catalogue)
    case = catalogue.case(allocated=False)

    episode = start(store, catalogue, case.case_id, support)

    started = [e for e in events_of(store) if e.event_type == "FloatingSupportStarted"][0]
    assert (episode.in_placement_id, episode.number, started.in_placement_id) == (None, 1, None)
    assert (started.case_id, started.person_ref, started.district) == (case.case_id, case.person_ref, case.district)
    assert (started.scheme_id, started.support_hours_per_week, started.cohort) == (support, 3.0, case.cohort)


def test_an_episode_started_while_a_placement_had_ended_is_not_alongside_it(store, catalogue):
    emergency, support = catalogue.scheme(**EMERGENCY), a_floating_support_scheme(catalogue)
    case = catalogue.case()
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=emergency,
                                         route=PANEL, occurred_at=days_ago(40))
    store.record_breakdown(catalogue.context, placement.id, reason=BreakdownReason.young_person_left,
                           destination=None, occurred_at=days_ago(30))

    assert start(store, catalogue, case.case_id, support, days=10).in_placement_id is None


# -- the scheme ---------------------------------------------------------------------------------------


def test_a_floating_support_scheme_takes_no_placement_started_or_moved_into_it(store, catalogue):
    foyer, support = catalogue.scheme(), a_floating_support_scheme(catalogue)
    case = catalogue.case()

    with pytest.raises(FloatingSupportSchemeTakesNoPlacements) as refused:
        store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=support, route=PANEL,
                              occurred_at=days_ago(5))
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=foyer,
                                         route=PANEL, occurred_at=days_ago(5))
    with pytest.raises(FloatingSupportSchemeTakesNoPlacements) as moving:
        store.move_placement(catalogue.context, placement.id, to_scheme_id=support, direction=MoveDirection.step_down,
                             planned=True, overlap_until=None, occurred_at=days_ago(2))

    assert (refused.value.status, refused.value.field, moving.value.field) == (422, "scheme_id", "to_scheme_id")
    assert store.get_scheme(support).occupied_on(night(1)) == 0


def test_floating_support_takes_a_place_in_a_floating_support_scheme_only(store, catalogue):
    foyer = catalogue.scheme()
    case = catalogue.case()

    with pytest.raises(NotAFloatingSupportScheme) as refused:
        start(store, catalogue, case.case_id, foyer)

    assert (refused.value.status, refused.value.field) == (422, "scheme_id")
    assert store.get_scheme(foyer).occupied_on(night(1)) == 0


def test_no_support_place_is_taken_beyond_the_schemes_capacity_and_an_end_frees_one(store, catalogue):
    support = a_floating_support_scheme(catalogue, capacity_units=1)
    first, second = catalogue.case(), catalogue.case()
    episode = start(store, catalogue, first.case_id, support, days=10)

    with pytest.raises(NoSupportPlaceFree) as full:
        start(store, catalogue, second.case_id, support, days=5)
    end(store, catalogue, episode.id, days=4)
    start(store, catalogue, second.case_id, support, days=3)

    assert full.value.status == 409
    assert store.get_scheme(support).occupied_on(night(1)) == 1


# -- one at a time, on an open case -----------------------------------------------------------------------


def test_a_young_person_has_one_floating_support_episode_at_a_time_whoever_provides_it(store, catalogue):
    support = a_floating_support_scheme(catalogue)
    other = Catalogue(store, provider_id=store.register_provider(
        catalogue.context, name="Another Trust", district="preston", occurred_at=days_ago(500))[0].id)
    elsewhere = a_floating_support_scheme(other, name="Another Floating Support")
    case = catalogue.case()
    first = start(store, catalogue, case.case_id, support, days=20)

    with pytest.raises(YoungPersonAlreadyHasFloatingSupport):
        start(store, catalogue, case.case_id, elsewhere, days=10)
    end(store, catalogue, first.id, days=8)
    with pytest.raises(FloatingSupportEpisodesWouldOverlap):
        start(store, catalogue, case.case_id, elsewhere, days=9)
    second = start(store, catalogue, case.case_id, elsewhere, days=5)

    assert (second.number, [e.id for e in store.floating_support_of(case.person_ref)]) == (2, [first.id, second.id])


@pytest.mark.parametrize(("case", "error"), [
    ({"open": False}, FloatingSupportNeedsAnOpenCase),
    ({"referred_at": days_ago(5)}, FloatingSupportBeforeReferral),
    ({"reopened_at": days_ago(5)}, FloatingSupportBeforeReferral),
], ids=["closed case", "before the referral", "while the case was closed"])
def test_floating_support_needs_an_open_case_and_comes_after_the_referral(store, catalogue, case, error):
    support = a_floating_support_scheme(catalogue)
    known = catalogue.case(**case)

    with pytest.raises(error):
        start(store, catalogue, known.case_id, support, days=10)

    assert store.get_scheme(support).occupied_on(night(1)) == 0


def test_floating_support_for_a_case_the_service_has_not_heard_of_is_refused(store, catalogue):
    with pytest.raises(UnknownCase):
        start(store, catalogue, uuid4(), a_floating_support_scheme(catalogue))


# -- its end ------------------------------------------------------------------------------------------------


def test_an_episode_ends_once_after_it_started_and_never_planned_to_nowhere_known(store, catalogue):
    episode = start(store, catalogue, catalogue.case().case_id, a_floating_support_scheme(catalogue), days=10)

    with pytest.raises(FloatingSupportEndsBeforeItStarted):
        end(store, catalogue, episode.id, days=11)
    with pytest.raises(DestinationCannotBePlanned):
        end(store, catalogue, episode.id, destination=Destination.not_known)
    with pytest.raises(DestinationNoLongerRecorded):
        end(store, catalogue, episode.id, planned=False, destination=Destination.other_or_not_known)
    end(store, catalogue, episode.id, planned=False, destination=Destination.not_known)
    with pytest.raises(FloatingSupportAlreadyEnded):
        end(store, catalogue, episode.id)
    with pytest.raises(FloatingSupportNotFound):
        store.get_floating_support(uuid4())


# -- its id -------------------------------------------------------------------------------------------------


def test_an_episode_id_is_a_keyed_hash_of_the_person_and_number_never_a_placements_id(store, catalogue):
    case = catalogue.case()
    episode = start(store, catalogue, case.case_id, a_floating_support_scheme(catalogue))
    key = store.placement_id_key

    assert episode.id == floating_support_episode_id_for(case.person_ref, 1, key)
    assert episode.id != placement_id_for(case.person_ref, 1, key)
    assert episode.id != floating_support_episode_id_for(case.person_ref, 1, b"another key")
    assert str(case.person_ref) not in str(episode.id)


def test_two_stores_with_different_keys_give_the_same_young_person_different_episode_ids():
    ids = []
    for key in ("first key", "second key"):
        store = Placements(IN_MEMORY_ENV | {"PLACEMENT_ID_KEY": key})
        catalogue = Catalogue(store)
        ids.append(start(store, catalogue, catalogue.case(person_ref=UUID(int=7)).case_id,
                         a_floating_support_scheme(catalogue)).id)

    assert ids[0] != ids[1]


# -- the handlers: one door for every request, refusing the retired words ------------------------------------


def test_the_floating_support_commands_go_through_their_handlers(store, catalogue):
    support, case = a_floating_support_scheme(catalogue), catalogue.case()

    started = handlers.handle(store, catalogue.context, handlers.StartFloatingSupport(
        case_id=case.case_id, scheme_id=support, occurred_at=days_ago(9)))
    ended = handlers.handle(store, catalogue.context, handlers.EndFloatingSupport(
        episode_id=started.id, planned=True, destination=Destination.remained_in_own_home, occurred_at=days_ago(1)))

    assert (started.case_id, started.person_ref, ended.position) == (case.case_id, case.person_ref, store.position())
    assert store.get_floating_support(started.id).status == "ended"


def test_a_new_scheme_cannot_be_visiting_floating_support_which_is_split_in_two(store, catalogue):
    command = handlers.RegisterScheme(provider_id=catalogue.provider(), name="Old Words", district="preston",
                                      provision_type=ProvisionType.visiting_floating_support,
                                      pathway_stage=FLOATING_SUPPORT["pathway_stage"], support_level="low",
                                      support_hours_per_week=2, capacity_units=3, opened_on=night(10))
    before = store.position()

    with pytest.raises(ProvisionTypeNoLongerRecorded) as refused:
        handlers.register_scheme(store, catalogue.context, command)

    assert (refused.value.status, refused.value.field, store.position()) == (422, "provision_type", before)


@pytest.mark.parametrize(("destination", "error"), [
    (Destination.other_or_not_known, DestinationNoLongerRecorded),
    (Destination.remained_in_own_home, DestinationOnlyForFloatingSupport),
])
def test_a_placement_cannot_end_or_break_down_to_a_retired_or_a_floating_support_destination(
        store, catalogue, destination, error):
    case = catalogue.case()
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=catalogue.scheme(),
                                         route=PANEL, occurred_at=days_ago(10))

    with pytest.raises(error):
        handlers.end_placement(store, catalogue.context, handlers.EndPlacement(
            placement_id=placement.id, planned=False, destination=destination, occurred_at=days_ago(1)))
    with pytest.raises(error):
        handlers.record_breakdown(store, catalogue.context, handlers.RecordBreakdown(
            placement_id=placement.id, reason=BreakdownReason.young_person_left, destination=destination,
            occurred_at=days_ago(1)))

    assert store.get_placement(placement.id).open


def test_a_breakdown_that_does_not_say_where_the_young_person_went_is_not_known_not_other(store, catalogue):
    case = catalogue.case()
    placement, _ = store.start_placement(catalogue.context, case_id=case.case_id, scheme_id=catalogue.scheme(),
                                         route=PANEL, occurred_at=days_ago(10))

    handlers.record_breakdown(store, catalogue.context, handlers.RecordBreakdown(
        placement_id=placement.id, reason=BreakdownReason.evicted_by_provider, occurred_at=days_ago(1)))

    assert store.get_placement(placement.id).ending.destination is Destination.not_known
