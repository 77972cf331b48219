"""Requests racing for the same units, on the placement store on real PostgreSQL, from real threads.

`RecordsTogether` holds each racer at the store's save until every racer has loaded and decided, so the
race is certain to happen: all of them decide on the same versions of the scheme, and the store has to
refuse all but one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from services.placement.application import Placements
from services.placement.domain import PlacementConflict, PlacementWouldExceedCapacity, YoungPersonAlreadyPlaced
from services.placement.projections.known_cases import CasesInMemory
from shared.contracts.placement_vocabulary import PlacementRoute
from shared.eventstore import postgres_env

from .placement_builders import Catalogue, days_ago, night


class RecordsTogether:
    """Wraps `Placements.record`: each thread's first save waits until `parties` threads are ready to save."""

    def __init__(self, store: Placements, parties: int):
        self.record = store.record
        self.barrier = threading.Barrier(parties, timeout=30)
        self.first_save_done = threading.local()
        self.lock = threading.Lock()
        self.refused_by_the_store = 0

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        if not getattr(self.first_save_done, "value", False):
            self.first_save_done.value = True
            self.barrier.wait()
        try:
            return self.record(*args, **kwargs)
        except IntegrityError:
            with self.lock:
                self.refused_by_the_store += 1
            raise


@pytest.fixture
def store(postgres, schema) -> Iterator[Placements]:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    store = Placements(postgres_env(postgres.url, schema, lock_timeout_seconds=5))
    store.cases = CasesInMemory()
    yield store
    store.close()


def race(racers: list[Callable[[], Any]]) -> list[Any]:
    """Run every racer on a thread of its own at once; each gives its result or the conflict it raised."""
    def outcome(racer: Callable[[], Any]) -> Any:
        try:
            return racer()
        except PlacementConflict as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        return list(pool.map(outcome, racers))


def starting(store: Placements, case, scheme_id) -> Callable[[], Any]:
    return lambda: store.start_placement(Catalogue(store).context, case_id=case.case_id, scheme_id=scheme_id,
                                         route=PlacementRoute.panel, occurred_at=days_ago(1))


def test_two_requests_racing_for_the_last_unit_one_wins_and_the_other_is_refused_as_over_capacity(store):
    catalogue = Catalogue(store)
    scheme_id = catalogue.scheme(capacity_units=1)
    first, second = catalogue.case(), catalogue.case()
    together = store.record = RecordsTogether(store, parties=2)

    outcomes = race([starting(store, first, scheme_id), starting(store, second, scheme_id)])

    refused = [o for o in outcomes if isinstance(o, PlacementConflict)]
    assert len(refused) == 1 and isinstance(refused[0], PlacementWouldExceedCapacity), outcomes
    assert together.refused_by_the_store == 1
    assert store.get_scheme(scheme_id).occupied_on(night(0)) == 1
    placed = [store.current_placement(case.person_ref) for case in (first, second)]
    assert sum(p is not None for p in placed) == 1


def test_two_requests_racing_for_the_last_two_units_both_win_after_the_loser_decides_again(store):
    catalogue = Catalogue(store)
    scheme_id = catalogue.scheme(capacity_units=2)
    first, second = catalogue.case(), catalogue.case()
    together = store.record = RecordsTogether(store, parties=2)

    outcomes = race([starting(store, first, scheme_id), starting(store, second, scheme_id)])

    assert not any(isinstance(o, PlacementConflict) for o in outcomes), outcomes
    assert together.refused_by_the_store == 1
    assert store.get_scheme(scheme_id).occupied_on(night(0)) == 2


def test_eight_requests_racing_for_three_units_never_let_more_than_three(store):
    catalogue = Catalogue(store)
    scheme_id = catalogue.scheme(capacity_units=3)
    cases = [catalogue.case() for _ in range(8)]
    store.record = RecordsTogether(store, parties=8)

    outcomes = race([starting(store, case, scheme_id) for case in cases])

    refused = [o for o in outcomes if isinstance(o, PlacementConflict)]
    assert len(refused) == 5, outcomes
    assert all(isinstance(conflict, PlacementWouldExceedCapacity) for conflict in refused), refused
    assert store.get_scheme(scheme_id).occupied_on(night(0)) == 3


def test_two_placements_racing_for_the_same_young_person_one_wins(store):
    catalogue = Catalogue(store)
    one, other = catalogue.scheme(), catalogue.scheme()
    case = catalogue.case()
    store.record = RecordsTogether(store, parties=2)

    outcomes = race([starting(store, case, one), starting(store, case, other)])

    refused = [o for o in outcomes if isinstance(o, PlacementConflict)]
    assert len(refused) == 1 and isinstance(refused[0], YoungPersonAlreadyPlaced), outcomes
    assert len(store.placements_of(case.person_ref)) == 1
    assert store.get_scheme(one).occupied_on(night(0)) + store.get_scheme(other).occupied_on(night(0)) == 1
