"""One handler per command of the outcomes service: whatever the door (an HTTP route today), a change is a
command object sent here. Each handler makes one call on the store and returns what was written and its
position; the rules' errors pass through to be mapped once by the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.outcomes.application import Outcomes
from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.outcomes import Independence, Outcome, OutcomeResult


@dataclass(frozen=True, kw_only=True)
class AgreeSupportPlan:
    episode_id: UUID
    outcomes_needed: list[Outcome]
    occurred_at: datetime | None = None
    """None: now."""


@dataclass(frozen=True, kw_only=True)
class ReviewSupportPlan:
    episode_id: UUID
    outcomes_added: list[Outcome] = field(default_factory=list)
    results: dict[Outcome, OutcomeResult] = field(default_factory=dict)
    independence: Independence | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RecordDepartureOutcomes:
    episode_id: UUID
    results: dict[Outcome, OutcomeResult]
    independence: Independence | None = None


@dataclass(frozen=True)
class Written:
    id: UUID
    position: int


def agree_support_plan(store: Outcomes, context: EventContext, command: AgreeSupportPlan) -> Written:
    position = store.agree_plan(context, command.episode_id, outcomes_needed=command.outcomes_needed,
                                occurred_at=command.occurred_at or utc_now())
    return Written(command.episode_id, position)


def review_support_plan(store: Outcomes, context: EventContext, command: ReviewSupportPlan) -> Written:
    position = store.review_plan(context, command.episode_id, outcomes_added=command.outcomes_added,
                                 results=command.results, independence=command.independence,
                                 occurred_at=command.occurred_at or utc_now())
    return Written(command.episode_id, position)


def record_departure_outcomes(store: Outcomes, context: EventContext, command: RecordDepartureOutcomes) -> Written:
    position = store.record_departure(context, command.episode_id, results=command.results,
                                      independence=command.independence)
    return Written(command.episode_id, position)
