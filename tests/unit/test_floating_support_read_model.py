"""The floating support read models on real PostgreSQL: the open episodes of each scheme, and the data-quality
count of departures whose destination is not known (events from a scenario played on the placement store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.placement.application import Placements
from services.placement.projections.departures import DeparturesReadModel, destinations_not_known
from services.placement.projections.floating_support import FloatingSupportReadModel, open_floating_support
from services.placement.projections.placements import PlacementReadModel
from shared.contracts.placement_vocabulary import BreakdownReason, Destination, MoveDirection, PlacementRoute
from shared.projections import prepare_projection

from .floating_support_builders import a_floating_support_scheme
from .placement_builders import Catalogue, days_ago, in_memory_placements, night
from .test_placement_read_model import Feed, events_of

PROJECTIONS = (PlacementReadModel, FloatingSupportReadModel, DeparturesReadModel)

PANEL = PlacementRoute.panel



@pytest.fixture
async def conn(postgres, schema) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres.url)
    await conn.execute(f"CREATE SCHEMA {schema}")
    for projection in PROJECTIONS:
        await prepare_projection(conn, schema, projection())
    yield conn
    await conn.close()


@pytest.fixture
def scenario() -> tuple[Placements, dict[str, Any]]:
    """Three young people with floating support (one alongside a placement that moved and then broke down
    without saying where they went; one ended at home; one in Burnley), and a foyer placement ended to other."""
    store = in_memory_placements()
    catalogue = Catalogue(store)
    support, foyer, cluster = (a_floating_support_scheme(catalogue, capacity_units=5), catalogue.scheme(),
                               catalogue.scheme(name="Cluster Flats"))
    cases = {name: catalogue.case(district="burnley" if name == "burnley" else "preston")
             for name in ("alongside", "at_home", "burnley", "foyer_only")}
    placed, _ = store.start_placement(catalogue.context, case_id=cases["alongside"].case_id, scheme_id=foyer,
                                      route=PANEL, occurred_at=days_ago(40))
    episodes = {name: store.start_floating_support(catalogue.context, case_id=cases[name].case_id,
                                                   scheme_id=support, occurred_at=days_ago(30 - n))[0]
                for n, name in enumerate(("alongside", "at_home", "burnley"))}
    store.move_placement(catalogue.context, placed.id, to_scheme_id=cluster, direction=MoveDirection.lateral,
                         planned=True, overlap_until=None, occurred_at=days_ago(20))
    store.record_breakdown(catalogue.context, placed.id, reason=BreakdownReason.evicted_by_provider,
                           destination=None, occurred_at=days_ago(10))
    other, _ = store.start_placement(catalogue.context, case_id=cases["foyer_only"].case_id, scheme_id=foyer,
                                     route=PANEL, occurred_at=days_ago(40))
    store.end_placement(catalogue.context, other.id, planned=False, destination=Destination.other,
                        occurred_at=days_ago(15))
    store.end_floating_support(catalogue.context, episodes["at_home"].id, planned=True,
                               destination=Destination.remained_in_own_home, hours_delivered=None,
                               occurred_at=days_ago(5))
    return store, {"support": support, "foyer": foyer, "cluster": cluster, "episodes": episodes,
                   "placement": placed}


async def feed_all(conn, schema, store) -> list[Feed]:
    feeds = [Feed(conn, projection(), "CASETRACK_PLACEMENT", schema) for projection in PROJECTIONS]
    for feed in feeds:
        await feed.apply(*events_of(store))
    return feeds


async def test_the_open_episodes_of_each_scheme_are_listed_longest_running_first(conn, schema, scenario):
    store, s = scenario
    await feed_all(conn, schema, store)

    everywhere = await open_floating_support(conn, schema=schema)
    preston = await open_floating_support(conn, district="preston", schema=schema)

    episodes = s["episodes"]
    assert [row["episode_id"] for row in everywhere] == [episodes["alongside"].id, episodes["burnley"].id]
    assert [row["in_placement_id"] for row in everywhere] == [s["placement"].id, None]
    assert (everywhere[0]["scheme_name"], everywhere[0]["scheme_capacity_units"]) == ("Floating Support Service", 5)
    assert [row["episode_id"] for row in preston] == [episodes["alongside"].id]
    assert await open_floating_support(conn, provider_id=s["support"], schema=schema) == []


async def test_departures_with_a_destination_not_known_are_counted_per_scheme(conn, schema, scenario):
    store, s = scenario
    await feed_all(conn, schema, store)

    rows = {row["scheme_id"]: row for row in await destinations_not_known(conn, schema=schema)}
    recent = await destinations_not_known(conn, first_day=night(12), last_day=night(0), schema=schema)

    counted = {scheme: (row["departures"], row["destination_not_known"]) for scheme, row in rows.items()}
    assert counted == {s["cluster"]: (1, 1), s["foyer"]: (2, 0), s["support"]: (1, 0)}
    assert next(iter(rows.values()))["scheme_id"] == s["cluster"]  # most not known first
    assert {row["scheme_id"] for row in recent} == {s["cluster"], s["support"]}


async def test_applying_the_events_again_changes_neither_read_model(conn, schema, scenario):
    store, _ = scenario
    feeds = await feed_all(conn, schema, store)
    before = (await open_floating_support(conn, schema=schema), await destinations_not_known(conn, schema=schema))

    for feed in feeds:
        await feed.redeliver_everything()

    assert (await open_floating_support(conn, schema=schema),
            await destinations_not_known(conn, schema=schema)) == before
