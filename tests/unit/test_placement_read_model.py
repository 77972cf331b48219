"""The placement service's projections on real PostgreSQL: the cases it knows from the referral service's
events, and its read model of its own events (catalogue, stays over their limit, cases awaiting placement).

The placement events come from a scenario played on the placement store itself, so the projection sees
exactly what the service records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import psycopg
import pytest

from services.placement.application import Placements
from services.placement.domain import KnownCase
from services.placement.projections.known_cases import KnownCasesProjection
from services.placement.projections.placements import (
    PlacementReadModel,
    average_stays,
    cases_awaiting_placement,
    schemes_matching,
    stays_over_limit,
)
from shared.contracts import Event, parse_event
from shared.contracts.placement_vocabulary import Destination, MoveDirection, PlacementRoute
from shared.contracts.referral import (
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    LegalStatusChanged,
    PanelDecisionMade,
    PersonLinked,
    ReferralMade,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Gateway,
    LegalStatus,
    Level,
    LinkBasis,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    StatusChangeReason,
)
from shared.eventstore import postgres_env
from shared.projections import Recorded, prepare_projection

from .placement_builders import EMERGENCY, TODAY, Catalogue, days_ago, in_memory_placements, night


@pytest.fixture
async def conn(postgres, schema) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres.url)
    await conn.execute(f"CREATE SCHEMA {schema}")
    for projection in (KnownCasesProjection(), PlacementReadModel()):
        await prepare_projection(conn, schema, projection)
    yield conn
    await conn.close()


@dataclass
class Feed:
    """Applies events to projections as the idempotent consumer would: one stream sequence each, in order."""

    conn: asyncpg.Connection
    projection: Any
    stream: str
    schema: str
    delivered: list[Recorded] = field(default_factory=list)

    async def apply(self, *events: Event) -> None:
        for event in events:
            sequence = len(self.delivered) + 1
            recorded = Recorded(event, self.stream, sequence, sequence)
            await self._apply(recorded)
            self.delivered.append(recorded)

    async def redeliver_everything(self) -> None:
        for recorded in self.delivered:
            await self._apply(recorded)

    async def _apply(self, recorded: Recorded) -> None:
        async with self.conn.transaction():
            await self.conn.execute(f"SET LOCAL search_path TO {self.schema}")
            await self.projection.apply(self.conn, [recorded])


@dataclass
class ACase:
    """Builds one referral case's events in order, each with the envelope it would carry."""

    district: str = "preston"
    case_id: UUID = field(default_factory=uuid4)
    person_ref: UUID = field(default_factory=uuid4)
    version: int = 0

    def _event(self, event_class: type[Event], occurred_at: datetime, **facts: Any) -> Event:
        self.version += 1
        return event_class(aggregate_id=self.case_id, aggregate_version=self.version, case_id=self.case_id,
                           person_ref=self.person_ref, district=self.district, occurred_at=occurred_at, **facts)

    def referred(self, days: int = 200) -> Event:
        return self._event(ReferralMade, days_ago(days), gateway=Gateway.hub, cohort=Cohort.care_leaver,
                           legal_status=LegalStatus.former_relevant,
                           age_at_event=19, presenting_reason=PresentingReason.leaving_care)

    def assessed(self, days: int) -> Event:
        return self._event(AssessmentCompleted, days_ago(days), support_needs=[], support_level=Level.high,
                           risk=Level.medium, priority_band=PriorityBand.a)

    def decided(self, days: int, decision: PanelDecision = PanelDecision.allocate_service) -> Event:
        return self._event(PanelDecisionMade, days_ago(days), decision=decision, panel_date=days_ago(days).date())

    def closed(self, days: int) -> Event:
        return self._event(CaseClosed, days_ago(days), reason=ClosureReason.moved_on)

    def reopened(self, days: int) -> Event:
        return self._event(CaseReopened, days_ago(days), presenting_reason=PresentingReason.other,
                           cohort=Cohort.care_leaver, legal_status=LegalStatus.former_relevant, age_at_event=19)

    def allocated(self, days: int) -> list[Event]:
        return [self.referred(), self.assessed(days + 1), self.decided(days)]

    def known(self, allocated: bool = True) -> KnownCase:
        return KnownCase(case_id=self.case_id, person_ref=self.person_ref, district=self.district,
                         cohort=Cohort.care_leaver, open=True, allocated=allocated)


def events_of(store: Placements) -> list[Event]:
    return [parse_event(n.state) for n in store.recorder.select_notifications(1, 10_000)]


# -- the cases the placement service knows -----------------------------------------------------------


@pytest.fixture
def postgres_store(postgres, schema, conn) -> Iterator[Placements]:
    """The placement store on PostgreSQL in the test's schema: its case directory reads `known_cases` there."""
    with psycopg.connect(postgres.url, autocommit=True) as sync_conn:
        sync_conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    store = Placements(postgres_env(postgres.url, schema, lock_timeout_seconds=5))
    yield store
    store.close()


async def test_the_store_knows_a_case_from_the_referral_events_open_or_closed_and_whether_allocated(
        conn, schema, postgres_store):
    feed = Feed(conn, KnownCasesProjection(), "CASETRACK_REFERRAL", schema)
    allocated, deferred, closed, reopened, linked = (ACase() for _ in range(5))
    new_person = uuid4()
    await feed.apply(*allocated.allocated(10), deferred.referred(), deferred.assessed(9),
                     deferred.decided(8, PanelDecision.defer), *closed.allocated(10), closed.closed(5),
                     *reopened.allocated(10), reopened.closed(5), reopened.reopened(3), linked.referred())
    await feed.apply(linked._event(PersonLinked, days_ago(1), previous_person_ref=linked.person_ref,
                                   basis=LinkBasis.case_worker_decision).model_copy(update={"person_ref": new_person}))

    known = {name: postgres_store.cases.case(case.case_id) for name, case in
             {"allocated": allocated, "deferred": deferred, "closed": closed, "reopened": reopened,
              "linked": linked}.items()}

    assert (known["allocated"].open, known["allocated"].allocated) == (True, True)
    assert (known["deferred"].open, known["deferred"].allocated) == (True, False)
    assert (known["closed"].open, known["closed"].allocated) == (False, True)
    assert (known["reopened"].open, known["reopened"].allocated) == (True, False)
    assert known["linked"].person_ref == new_person
    assert postgres_store.cases.case(uuid4()) is None


async def test_the_store_knows_a_young_persons_legal_status_and_age_over_time(conn, schema, postgres_store):
    feed = Feed(conn, KnownCasesProjection(), "CASETRACK_REFERRAL", schema)
    case = ACase()
    referred = case._event(ReferralMade, days_ago(300), gateway=Gateway.district_housing_options,
                           cohort=Cohort.homeless_16_17, legal_status=LegalStatus.not_looked_after, age_at_event=17,
                           presenting_reason=PresentingReason.parental_eviction)
    accommodated = case._event(LegalStatusChanged, days_ago(250), legal_status=LegalStatus.looked_after_section_20,
                               previous_legal_status=LegalStatus.not_looked_after, cohort=Cohort.looked_after_16_17,
                               reason=StatusChangeReason.southwark_assessment, age_at_event=17)
    await feed.apply(referred, accommodated)
    seventeen = postgres_store.cases.case(case.case_id)
    await feed.apply(case._event(AgeReached, days_ago(100), age=18, legal_status=LegalStatus.former_relevant,
                                 cohort=Cohort.care_leaver))
    eighteen = postgres_store.cases.case(case.case_id)

    assert (seventeen.legal_status, seventeen.under_18, seventeen.cohort) == (
        LegalStatus.looked_after_section_20, True, Cohort.looked_after_16_17)
    assert seventeen.looked_after_or_care_leaving_16_17_on(days_ago(200))
    assert (eighteen.legal_status, eighteen.under_18, eighteen.cohort) == (
        LegalStatus.former_relevant, False, Cohort.care_leaver)
    assert [eighteen.legal_status_on(days_ago(d)) for d in (280, 200, 50)] == [
        LegalStatus.not_looked_after, LegalStatus.looked_after_section_20, LegalStatus.former_relevant]
    assert (eighteen.cohort_on(days_ago(200)), eighteen.under_18_on(days_ago(101)), eighteen.under_18_on(days_ago(99))
            ) == (Cohort.looked_after_16_17, True, False)
    assert eighteen.looked_after_or_care_leaving_16_17_on(days_ago(200))
    assert not eighteen.looked_after_or_care_leaving_16_17_on(days_ago(50))


async def test_applying_referral_events_again_or_late_changes_nothing(conn, schema, postgres_store):
    feed = Feed(conn, KnownCasesProjection(), "CASETRACK_REFERRAL", schema)
    case = ACase()
    await feed.apply(*case.allocated(10), case.closed(2))

    await feed.redeliver_everything()

    assert postgres_store.cases.case(case.case_id).open is False


# -- the read model of the placement service's own events --------------------------------------------


@pytest.fixture
def scenario() -> tuple[Placements, dict[str, Any]]:
    """Stays of different lengths in an emergency scheme (91-day maximum, 42-day target) and a foyer (no limit)."""
    store = in_memory_placements()
    catalogue = Catalogue(store)
    emergency = catalogue.scheme(**EMERGENCY, capacity_units=10, max_stay_days=91, target_stay_days=42)
    foyer = catalogue.scheme(capacity_units=10)
    cases = {name: ACase(district="burnley" if name == "burnley_over" else "preston")
             for name in ("over_maximum", "over_target", "within", "moved_on", "ended", "burnley_over", "foyer")}
    placements = {}
    for name, days, scheme in [("over_maximum", 100, emergency), ("over_target", 50, emergency),
                               ("within", 20, emergency), ("moved_on", 100, emergency), ("ended", 120, emergency),
                               ("burnley_over", 95, emergency), ("foyer", 300, foyer)]:
        store.cases.remember(cases[name].known())
        placements[name], _ = store.start_placement(catalogue.context, case_id=cases[name].case_id,
                                                    scheme_id=scheme, route=PlacementRoute.panel,
                                                    occurred_at=days_ago(days))
    store.move_placement(catalogue.context, placements["moved_on"].id, to_scheme_id=foyer,
                         direction=MoveDirection.step_down, planned=True, overlap_until=None,
                         occurred_at=days_ago(10))
    store.end_placement(catalogue.context, placements["ended"].id, planned=True,
                        destination=Destination.social_rented, occurred_at=days_ago(20))
    return store, {"cases": cases, "placements": placements, "emergency": emergency, "foyer": foyer}


async def test_stays_over_their_schemes_maximum_are_listed_longest_over_first_and_none_for_the_target(
        conn, schema, scenario):
    store, s = scenario
    await Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema).apply(*events_of(store))
    placements = s["placements"]

    over_maximum = await stays_over_limit(conn, today=TODAY, district=None, schema=schema)
    in_preston = await stays_over_limit(conn, today=TODAY, district="preston", schema=schema)

    assert [(row["placement_id"], row["days_in_scheme"]) for row in over_maximum] == [
        (placements["over_maximum"].id, 100), (placements["burnley_over"].id, 95)]
    assert [row["placement_id"] for row in in_preston] == [placements["over_maximum"].id]  # 50 days: over target only
    assert over_maximum[0]["scheme_id"] == s["emergency"] and over_maximum[0]["max_stay_days"] == 91


async def test_a_stay_is_held_to_the_maximum_in_force_on_the_night_it_began(conn, schema, scenario):
    store, s = scenario
    store.change_stay_limits(Catalogue(store).context, s["emergency"], max_stay_days=20, target_stay_days=14,
                             effective_from=night(25), occurred_at=days_ago(26))
    later, _ = store.start_placement(Catalogue(store).context, case_id=Catalogue(store).case().case_id,
                                     scheme_id=s["emergency"], route=PlacementRoute.panel, occurred_at=days_ago(24))
    await Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema).apply(*events_of(store))

    over = {row["placement_id"]: row for row in await stays_over_limit(conn, today=TODAY, district=None,
                                                                        schema=schema)}

    assert set(over) == {s["placements"]["over_maximum"].id, s["placements"]["burnley_over"].id, later.id}
    assert (over[later.id]["max_stay_days"], over[later.id]["limits_from"], over[later.id]["days_in_scheme"]) == (
        20, night(25), 24)  # flagged against the new maximum; "within" (20 days, also under it) is not over
    assert over[s["placements"]["over_maximum"].id]["max_stay_days"] == 91  # began under the old terms


async def test_each_schemes_average_stay_is_reported_against_its_target_for_each_period_of_its_limits(
        conn, schema, scenario):
    store, s = scenario
    store.change_stay_limits(Catalogue(store).context, s["emergency"], max_stay_days=None, target_stay_days=28,
                             effective_from=night(30), occurred_at=days_ago(31))
    await Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema).apply(*events_of(store))

    rows = await average_stays(conn, today=TODAY, scheme_district=None, scheme_id=s["emergency"], schema=schema)

    first, second = rows
    assert (first["limits_until"], first["max_stay_days"], first["target_stay_days"]) == (night(30), 91, 42)
    # began before night 30: moved_on (90 days, then to the foyer) and ended (100) completed; over_maximum (100),
    # over_target (50) and burnley_over (95) still there
    assert (first["completed_stays"], first["average_completed_days"]) == (2, 95.0)
    assert (first["ongoing_stays"], first["average_ongoing_days"]) == (3, (100 + 50 + 95) / 3)
    assert (second["limits_from"], second["target_stay_days"], second["stays"], second["ongoing_stays"]) == (
        night(30), 28, 1, 1)  # within: 20 days so far
    assert second["average_days"] == 20.0 and second["completed_stays"] == 0


async def test_the_catalogue_is_found_by_district_stage_and_support_level(conn, schema, scenario):
    store, s = scenario
    await Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema).apply(*events_of(store))

    assessment = await schemes_matching(conn, pathway_stage="assessment", schema=schema)
    high_in_burnley = await schemes_matching(conn, district="burnley", support_level="high", schema=schema)

    assert [row["scheme_id"] for row in assessment] == [s["emergency"]]
    assert assessment[0]["provider_name"] == "Example Foyer Trust" and assessment[0]["capacity_units"] == 10
    assert high_in_burnley == []


async def test_applying_the_placement_events_again_changes_nothing(conn, schema, scenario):
    store, s = scenario
    feed = Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema)
    await feed.apply(*events_of(store))
    before = (await stays_over_limit(conn, today=TODAY, district=None, schema=schema),
              await average_stays(conn, today=TODAY, scheme_district=None, schema=schema))

    await feed.redeliver_everything()

    assert (await stays_over_limit(conn, today=TODAY, district=None, schema=schema),
            await average_stays(conn, today=TODAY, scheme_district=None, schema=schema)) == before
    assert await conn.fetchval(f"SELECT count(*) FROM {schema}.placements") == 7


async def test_cases_allocated_a_service_await_a_placement_until_one_starts_after_the_allocation(conn, schema):
    store = in_memory_placements()
    catalogue = Catalogue(store)
    emergency, foyer = catalogue.scheme(**EMERGENCY), catalogue.scheme()
    waiting, placed, in_emergency_bed, closed, elsewhere, reopened = (ACase() for _ in range(6))
    referrals = Feed(conn, KnownCasesProjection(), "CASETRACK_REFERRAL", schema)
    await referrals.apply(*waiting.allocated(5), *placed.allocated(30), *in_emergency_bed.allocated(8),
                          *closed.allocated(40), closed.closed(1), elsewhere.referred(), elsewhere.assessed(9),
                          elsewhere.decided(8, PanelDecision.refer_elsewhere), *reopened.allocated(50),
                          reopened.closed(4), reopened.reopened(2))
    store.cases.remember(placed.known())
    store.cases.remember(in_emergency_bed.known(allocated=False))
    store.start_placement(catalogue.context, case_id=placed.case_id, scheme_id=foyer, route=PlacementRoute.panel,
                          occurred_at=days_ago(20))
    bed, _ = store.start_placement(catalogue.context, case_id=in_emergency_bed.case_id, scheme_id=emergency,
                                   route=PlacementRoute.emergency, occurred_at=days_ago(12))
    await Feed(conn, PlacementReadModel(), "CASETRACK_PLACEMENT", schema).apply(*events_of(store))

    awaiting = await cases_awaiting_placement(conn, district="preston", schema=schema)

    assert [row["case_id"] for row in awaiting] == [in_emergency_bed.case_id, waiting.case_id]
    assert [row["current_placement_id"] for row in awaiting] == [bed.id, None]
    assert await cases_awaiting_placement(conn, district="dover", schema=schema) == []
