"""Placement and outcomes events for the outcomes read models' tests, and a harness applying them on real
PostgreSQL the way the projection runner does (one transaction per batch, each event with its sequence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from services.outcomes.projections.support_episodes import SupportEpisodes
from services.outcomes.projections.support_plans import SupportPlans
from services.outcomes.rules import OutcomesRules, load_outcomes_rules
from shared.contracts import Event
from shared.contracts.outcomes import (
    DepartureOutcomesRecorded,
    Independence,
    Outcome,
    OutcomeResult,
    ServiceType,
    SupportPlanAgreed,
    SupportPlanReviewed,
)
from shared.contracts.placement import (
    FloatingSupportEnded,
    FloatingSupportStarted,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
)
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Cohort, Level
from shared.projections import Recorded, prepare_projection


def on(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class AScheme:
    provision_type: ProvisionType = ProvisionType.young_peoples_supported_accommodation
    district: str = "maidstone"
    scheme_id: UUID = field(default_factory=uuid4)
    provider_id: UUID = field(default_factory=uuid4)

    def facts(self) -> dict:
        return {"scheme_id": self.scheme_id, "provider_id": self.provider_id, "provision_type": self.provision_type,
                "pathway_stage": PathwayStage.progression, "support_level": Level.medium,
                "scheme_district": self.district}


@dataclass
class AStay:
    """One young person's placement, event by event."""

    scheme: AScheme
    district: str = "maidstone"
    case_id: UUID = field(default_factory=uuid4)
    person_ref: UUID = field(default_factory=uuid4)
    placement_id: UUID = field(default_factory=uuid4)
    version: int = 0

    def _envelope(self, moment: datetime) -> dict:
        self.version += 1
        return {"aggregate_id": self.placement_id, "aggregate_version": self.version, "case_id": self.case_id,
                "person_ref": self.person_ref, "district": self.district, "occurred_at": moment}

    def started(self, day: date) -> PlacementStarted:
        return PlacementStarted(**self._envelope(on(day)), **self.scheme.facts(), placement_id=self.placement_id,
                                placement_number=1, cohort=Cohort.homeless_16_17, route=PlacementRoute.panel)

    def moved(self, day: date, to: AScheme, *, planned: bool, days: int) -> PlacementMoved:
        leaving, self.scheme = self.scheme, to
        return PlacementMoved(**self._envelope(on(day)), **to.facts(), placement_id=self.placement_id,
                              from_scheme_id=leaving.scheme_id, direction=MoveDirection.step_down, planned=planned,
                              days_in_previous_scheme=days)

    def ended(self, day: date, destination: Destination, *, planned: bool, days: int) -> PlacementEnded:
        return PlacementEnded(**self._envelope(on(day)), placement_id=self.placement_id,
                              scheme_id=self.scheme.scheme_id, planned=planned, destination=destination,
                              days_in_scheme=days, days_in_placement=days)

    def broke_down(self, day: date, destination: Destination, *, days: int) -> PlacementBrokeDown:
        return PlacementBrokeDown(**self._envelope(on(day)), placement_id=self.placement_id,
                                  scheme_id=self.scheme.scheme_id, reason=BreakdownReason.abandonment,
                                  destination=destination, days_in_scheme=days, days_in_placement=days)


@dataclass
class FloatingSupport:
    scheme: AScheme
    district: str = "maidstone"
    case_id: UUID = field(default_factory=uuid4)
    person_ref: UUID = field(default_factory=uuid4)
    episode_id: UUID = field(default_factory=uuid4)
    version: int = 0

    def _envelope(self, moment: datetime) -> dict:
        self.version += 1
        return {"aggregate_id": self.episode_id, "aggregate_version": self.version, "case_id": self.case_id,
                "person_ref": self.person_ref, "district": self.district, "occurred_at": moment}

    def started(self, day: date) -> FloatingSupportStarted:
        return FloatingSupportStarted(**self._envelope(on(day)), episode_id=self.episode_id, episode_number=1,
                                      scheme_id=self.scheme.scheme_id, provider_id=self.scheme.provider_id,
                                      scheme_district=self.scheme.district, support_level=Level.low,
                                      support_hours_per_week=3, cohort=Cohort.care_leaver)

    def ended(self, day: date, destination: Destination, *, planned: bool, days: int) -> FloatingSupportEnded:
        return FloatingSupportEnded(**self._envelope(on(day)), episode_id=self.episode_id,
                                    scheme_id=self.scheme.scheme_id, planned=planned, destination=destination,
                                    days_supported=days)


@dataclass
class APlan:
    """The provider's record of one episode (its id: the event that opened it)."""

    opened_by: Event
    service_type: ServiceType = ServiceType.short_term
    version: int = 0

    def _facts(self, moment: datetime) -> dict:
        self.version += 1
        event = self.opened_by
        return {"aggregate_id": event.event_id, "aggregate_version": self.version, "case_id": event.case_id,
                "person_ref": event.person_ref, "district": event.district, "occurred_at": moment,
                "episode_id": event.event_id, "scheme_id": event.scheme_id,
                "provider_id": event.provider_id, "service_type": self.service_type}

    def agreed(self, day: date, *needed: Outcome) -> SupportPlanAgreed:
        return SupportPlanAgreed(**self._facts(on(day)), outcomes_needed=list(needed))

    def reviewed(self, day: date, results: dict[Outcome, OutcomeResult] | None = None,
                 independence: Independence | None = None, added: tuple[Outcome, ...] = ()) -> SupportPlanReviewed:
        return SupportPlanReviewed(**self._facts(on(day)), results=results or {}, independence=independence,
                                   outcomes_added=list(added))

    def departed(self, departure: Event, results: dict[Outcome, OutcomeResult]) -> DepartureOutcomesRecorded:
        return DepartureOutcomesRecorded(**self._facts(departure.occurred_at), departure_event_id=departure.event_id,
                                         results=results)


class OutcomesReadModels:
    """The support_episodes and support_plans projections in a test schema, fed as their runners would."""

    def __init__(self, pool: asyncpg.Pool, schema: str, rules: OutcomesRules):
        self.pool, self.schema, self.rules = pool, schema, rules
        self.episodes, self.plans = SupportEpisodes(rules), SupportPlans()
        self.sequence = 0

    async def prepare(self) -> OutcomesReadModels:
        async with self.pool.acquire() as conn:
            for projection in (self.episodes, self.plans):
                await prepare_projection(conn, self.schema, projection)
        return self

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            batch = []
            for event in events:
                self.sequence += 1
                batch.append(Recorded(event, f"CASETRACK_{event.service.upper()}", self.sequence, self.sequence))
            for projection in (self.episodes, self.plans):
                wanted = projection.follows
                await projection.apply(conn, [r for r in batch
                                              if r.event.event_type in wanted.get(r.event.service, ())])


def shipped_rules() -> OutcomesRules:
    return load_outcomes_rules()


def days_after(day: date, days: int) -> date:
    return day + timedelta(days=days)
