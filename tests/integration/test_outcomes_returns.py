"""The returns projection on real PostgreSQL: young people referred again within 6, 12 or 24 months of a planned
move-on (the revolving door), each figure explained by event ids, whichever source's events arrive first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID, uuid4

import asyncpg
import pydantic
import pytest

from services.outcomes.projections.returns import Return, ReturnsProjection, ReturnsTable, returns_after_move_on
from shared.contracts import Event
from shared.contracts.placement import FloatingSupportEnded, PlacementEnded
from shared.contracts.placement_vocabulary import Destination
from shared.contracts.referral import PersonLinked, PersonUnlinked
from shared.contracts.vocabulary import LinkBasis
from shared.projections import Recorded, prepare_projection
from shared.subjects import stream_name
from tests.integration.case_events import ACase, on

TODAY = date(2026, 5, 1)
FIRST_DAY, LAST_DAY = date(2023, 1, 1), date(2024, 12, 31)


@dataclass
class AJourney(ACase):
    """A case's referral events (ACase), its person linked and unlinked, and its placement's or floating support's
    ending as the placement service would publish it."""

    def __post_init__(self) -> None:
        self.own_person_ref = self.person_ref

    def linked_to(self, other: ACase, at: datetime) -> PersonLinked:
        previous, self.person_ref = self.person_ref, other.person_ref
        return self._event(PersonLinked, at, previous_person_ref=previous, basis=LinkBasis.case_worker_decision)

    def unlinked(self, at: datetime) -> PersonUnlinked:
        linked, self.person_ref = self.person_ref, self.own_person_ref
        return self._event(PersonUnlinked, at, unlinked_from=linked)

    def placement_ended(self, at: datetime, planned: bool = True,
                        destination: Destination = Destination.social_rented) -> PlacementEnded:
        placement_id = uuid4()
        return PlacementEnded(aggregate_id=placement_id, aggregate_version=3, case_id=self.case_id,
                              person_ref=self.person_ref, district=self.district, occurred_at=at,
                              placement_id=placement_id, scheme_id=uuid4(), planned=planned, destination=destination,
                              days_in_scheme=120, days_in_placement=200)

    def floating_support_ended(self, at: datetime, planned: bool = True,
                               destination: Destination = Destination.remained_in_own_home) -> FloatingSupportEnded:
        episode_id = uuid4()
        return FloatingSupportEnded(aggregate_id=episode_id, aggregate_version=2, case_id=self.case_id,
                                    person_ref=self.person_ref, district=self.district, occurred_at=at,
                                    episode_id=episode_id, scheme_id=uuid4(), planned=planned,
                                    destination=destination, days_supported=150)


class Projected:
    """The projection in a test's schema, fed as its runners would: each source's events in order, with their
    own sequences."""

    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool, self.schema = pool, schema
        self.projection = ReturnsProjection()
        self.sequences: dict[str, int] = {}

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            batch = []
            for event in events:
                stream = stream_name(event.service)
                self.sequences[stream] = self.sequences.get(stream, 0) + 1
                batch.append(Recorded(event, stream, self.sequences[stream], self.sequences[stream]))
            await self.projection.apply(conn, batch)

    async def table(self, within_months=(6, 12, 24), district: str | None = None, first_day: date = FIRST_DAY,
                    last_day: date = LAST_DAY, today: date = TODAY) -> ReturnsTable:
        async with self.pool.acquire() as conn:
            return await returns_after_move_on(conn, first_day=first_day, last_day=last_day, today=today,
                                               within_months=within_months, district=district, schema=self.schema)


@pytest.fixture
async def projected(pool: asyncpg.Pool, schema: str) -> Projected:
    async with pool.acquire() as conn:
        await prepare_projection(conn, schema, ReturnsProjection())
    return Projected(pool, schema)


@dataclass
class Journeys:
    referral: list[Event]
    placement: list[Event]
    ids: dict[str, UUID]
    """Named event ids: the move-ons ("x moved on") and the referrals that made returns ("x came back")."""


def journeys() -> Journeys:
    """Young people moved on between January 2023 and August 2024, and who came back when."""
    at_5, at_9, at_30, linked, newcomer, unplanned, recent, stayed = (AJourney() for _ in range(8))
    referral = [
        at_5.referred(on(date(2022, 6, 1))), at_9.referred(on(date(2022, 6, 2))),
        at_30.referred(on(date(2022, 6, 3))), linked.referred(on(date(2022, 6, 4))),
        unplanned.referred(on(date(2022, 6, 5))), recent.referred(on(date(2023, 11, 1))),
        stayed.referred(on(date(2022, 6, 6))),
        at_5.closed(on(date(2023, 1, 15), 16)), at_5.reopened(on(date(2023, 6, 10))),  # 5 months on
        at_9.reopened(on(date(2023, 10, 10))),  # 9 months on
        at_30.reopened(on(date(2025, 7, 15))),  # 30 months on
        newcomer.referred(on(date(2023, 4, 1))), newcomer.linked_to(linked, on(date(2023, 4, 3))),  # 2 months on
        unplanned.reopened(on(date(2023, 3, 1))),
        recent.reopened(on(date(2025, 3, 1))),  # 7 months on
    ]
    came_back = {"at_5": referral[8], "at_9": referral[9], "linked": referral[11], "recent": referral[14]}
    placement = [
        at_5.placement_ended(on(date(2023, 1, 15))), at_9.placement_ended(on(date(2023, 1, 20))),
        at_30.placement_ended(on(date(2023, 1, 10))), linked.floating_support_ended(on(date(2023, 2, 1))),
        unplanned.placement_ended(on(date(2023, 2, 10)), planned=False, destination=Destination.abandoned),
        recent.placement_ended(on(date(2024, 8, 1))), stayed.placement_ended(on(date(2023, 3, 1))),
    ]
    ids = {f"{name} moved on": event.event_id
           for name, event in zip(["at_5", "at_9", "at_30", "linked", "unplanned", "recent", "stayed"], placement,
                                  strict=True)}
    ids |= {f"{name} came back": event.event_id for name, event in came_back.items()}
    return Journeys(referral, placement, ids)


def interleaved(journey: Journeys) -> list[Event]:
    """Both sources' events by when they happened."""
    return sorted(journey.referral + journey.placement, key=lambda event: event.occurred_at)


ORDERS = {
    "placement first": lambda journey: journey.placement + journey.referral,
    "referral first": lambda journey: journey.referral + journey.placement,
    "interleaved": interleaved,
}


def returned(table: ReturnsTable, months: int) -> list[Return]:
    return next(row for row in table.rows if row.within_months == months).returns


@pytest.mark.parametrize("order", ORDERS)
async def test_returns_within_6_12_and_24_months_of_a_planned_move_on(projected, order):
    journey = journeys()
    await projected.apply(*ORDERS[order](journey))

    table = await projected.table()

    assert table.move_ons == 6  # the unplanned ending is no move-on
    assert [(row.within_months, row.due, row.returned, row.returned_percent, row.not_yet_due)
            for row in table.rows] == [(6, 6, 2, 33.3, 0), (12, 6, 4, 66.7, 0), (24, 5, 3, 60.0, 1)]
    ids = journey.ids
    explained = {months: {(r.move_on_event_id, r.referral_event_id) for r in returned(table, months)}
                 for months in (6, 12, 24)}
    at_5 = (ids["at_5 moved on"], ids["at_5 came back"])
    linked = (ids["linked moved on"], ids["linked came back"])
    at_9 = (ids["at_9 moved on"], ids["at_9 came back"])
    recent = (ids["recent moved on"], ids["recent came back"])
    assert explained == {6: {at_5, linked}, 12: {at_5, linked, at_9, recent}, 24: {at_5, linked, at_9}}


async def test_the_same_events_applied_again_change_nothing(projected):
    journey = journeys()
    await projected.apply(*interleaved(journey))
    before = await projected.table()

    await projected.apply(*journey.placement)
    await projected.apply(*journey.referral)
    await projected.apply(*reversed(interleaved(journey)))

    assert await projected.table() == before


async def test_a_return_counts_once_per_window_with_the_first_referral_that_made_it_one(projected):
    young_person, other_case = AJourney(), AJourney()
    await projected.apply(young_person.referred(on(date(2022, 1, 1))),
                          young_person.placement_ended(on(date(2023, 1, 31))))
    other_referral = other_case.referred(on(date(2023, 2, 1)))
    await projected.apply(young_person.reopened(on(date(2023, 3, 1))), other_referral,
                          other_case.linked_to(young_person, on(date(2023, 5, 1))))

    [row] = (await projected.table(within_months=[6])).rows

    assert (row.due, row.returned) == (1, 1)
    assert row.returns[0].referral_event_id == other_referral.event_id  # the linked case's, a month earlier


async def test_a_link_undone_undoes_the_return(projected):
    young_person, other_case = AJourney(), AJourney()
    await projected.apply(young_person.referred(on(date(2022, 1, 1))), other_case.referred(on(date(2023, 2, 1))),
                          other_case.linked_to(young_person, on(date(2023, 2, 2))))
    await projected.apply(young_person.placement_ended(on(date(2023, 1, 31))))
    assert (await projected.table(within_months=[6])).rows[0].returned == 1

    await projected.apply(other_case.unlinked(on(date(2023, 9, 1))))

    assert (await projected.table(within_months=[6])).rows[0].returned == 0


async def test_a_window_is_calendar_months_from_the_move_on_day_and_due_once_it_is_over(projected):
    on_the_last_day, a_day_late, before_it = AJourney(), AJourney(), AJourney()
    moved_on = on_the_last_day.placement_ended(on(date(2024, 1, 31), 9))
    came_back = on_the_last_day.reopened(on(date(2024, 7, 31), 23))  # 31 January + 6 months
    await projected.apply(
        moved_on, came_back,
        a_day_late.placement_ended(on(date(2024, 1, 31))), a_day_late.reopened(on(date(2024, 8, 1), 0)),
        before_it.reopened(on(date(2024, 1, 31), 8)), before_it.placement_ended(on(date(2024, 1, 31), 9)))

    assert (await projected.table(within_months=[6], today=date(2024, 7, 31))).rows[0].not_yet_due == 3
    [row] = (await projected.table(within_months=[6], today=date(2024, 8, 1))).rows
    assert (row.due, row.returned, row.not_yet_due) == (3, 1, 0)
    assert row.returns == [Return(moved_on.event_id, came_back.event_id)]


async def test_the_table_can_be_confined_to_a_district_and_a_period_and_reads_as_json(projected):
    wyre, dover = AJourney(district="wyre"), AJourney(district="dover")
    await projected.apply(wyre.placement_ended(on(date(2023, 5, 1))), wyre.reopened(on(date(2023, 6, 1))),
                          dover.placement_ended(on(date(2024, 5, 1))))

    assert [row.returned for row in (await projected.table(district="wyre")).rows] == [1, 1, 1]
    dover_table = await projected.table(district="dover")
    assert [(row.due, row.returned_percent, row.not_yet_due) for row in dover_table.rows] == [
        (1, 0.0, 0), (1, 0.0, 0), (0, None, 1)]
    assert (await projected.table(first_day=date(2024, 1, 1))).move_ons == 1
    empty = await projected.table(district="burnley")
    assert (empty.move_ons, [row.returned_percent for row in empty.rows]) == (0, [None, None, None])
    as_json = json.loads(pydantic.TypeAdapter(ReturnsTable).dump_json(await projected.table()))
    assert as_json["rows"][0]["returns"][0]["move_on_event_id"] == str(
        (await projected.table()).rows[0].returns[0].move_on_event_id)
    assert "person_ref" not in json.dumps(as_json) and "case_id" not in json.dumps(as_json)
