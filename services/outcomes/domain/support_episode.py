"""A support episode: the support a young person gets from one service, and what it achieved.

The placement service records the episode's life (a placement starting, moving between schemes, ending or breaking
down; floating support starting and ending); the outcomes service follows those events (projections/
support_episodes.py) and hands what it knows to the rules here as a `KnownEpisode`. The provider records the
rest, as this aggregate's events: the support plan (the outcomes of the framework needed), its reviews, and the
result of every outcome needed at departure.

Rules:
- a plan, a review or departure outcomes name an episode the placement service started (else UnknownSupportEpisode);
- one plan per episode (SupportPlanAlreadyAgreed), dated within the episode (PlanOutsideEpisode);
- a review needs a plan (NoSupportPlan), is dated on or after it (ReviewBeforePlan), and the plan is still
  open: not after the episode ended, nor once its departure outcomes are recorded (SupportPlanClosed);
- a result is for an outcome the plan needed (OutcomeNeverNeeded); at departure every outcome needed gets one
  (OutcomeResultMissing), once (DepartureAlreadyRecorded), after the placement service recorded the end
  (EpisodeNotEnded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import singledispatchmethod
from uuid import UUID

from shared.aggregate import Aggregate
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
from shared.errors import Conflict, NotFound, Refused


@dataclass(frozen=True)
class KnownEpisode:
    """What the outcomes service knows of an episode from the placement service's events."""

    episode_id: UUID
    case_id: UUID
    person_ref: UUID
    district: str
    scheme_id: UUID
    provider_id: UUID
    service_type: ServiceType
    started_at: datetime
    ended_at: datetime | None = None
    departure_event_id: UUID | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class SupportEpisode(Aggregate):
    """The provider's record of one support episode; its id is the episode's."""

    outcomes_needed: set[Outcome]
    results: dict[Outcome, OutcomeResult]
    independence: Independence | None
    departure_recorded: bool
    agreed_on: date

    @classmethod
    def agree_plan(cls, episode: KnownEpisode, *, outcomes_needed: Sequence[Outcome], occurred_at: datetime,
                   now: datetime) -> SupportEpisode:
        _check_dated(occurred_at, now)
        if day_of(occurred_at) < day_of(episode.started_at) or (
                episode.ended_at is not None and day_of(occurred_at) > day_of(episode.ended_at)):
            raise PlanOutsideEpisode(
                f"the plan is dated {day_of(occurred_at)}, outside the episode ({day_of(episode.started_at)} to "
                f"{day_of(episode.ended_at) if episode.ended_at else 'now'})", field="occurred_at")
        plan = cls(episode.episode_id)
        plan.record(SupportPlanAgreed, **_facts(episode), occurred_at=occurred_at,
                    outcomes_needed=list(outcomes_needed))
        return plan

    def review(self, episode: KnownEpisode, *, outcomes_added: Sequence[Outcome],
               results: Mapping[Outcome, OutcomeResult], independence: Independence | None, occurred_at: datetime,
               now: datetime) -> None:
        _check_dated(occurred_at, now)
        if self.departure_recorded:
            raise SupportPlanClosed(f"the plan of episode {self.id} is closed: its departure outcomes are recorded")
        if episode.ended_at is not None and day_of(occurred_at) > day_of(episode.ended_at):
            raise SupportPlanClosed(f"episode {self.id} ended on {day_of(episode.ended_at)}: a review dated "
                                    f"{day_of(occurred_at)} is after it; record the outcomes at departure")
        if day_of(occurred_at) < self.agreed_on:
            raise ReviewBeforePlan(f"a review dated {day_of(occurred_at)} is before the plan was agreed "
                                   f"({self.agreed_on})", field="occurred_at")
        _check_needed(results, self.outcomes_needed | set(outcomes_added))
        self.record(SupportPlanReviewed, **_facts(episode), occurred_at=occurred_at,
                    outcomes_added=[o for o in outcomes_added if o not in self.outcomes_needed],
                    results=dict(results), independence=independence)

    def record_departure(self, episode: KnownEpisode, *, results: Mapping[Outcome, OutcomeResult],
                         independence: Independence | None) -> None:
        if self.departure_recorded:
            raise DepartureAlreadyRecorded(f"the departure outcomes of episode {self.id} are already recorded")
        if episode.ended_at is None or episode.departure_event_id is None:
            raise EpisodeNotEnded(f"episode {self.id} has not ended, as far as the placement service has told "
                                  f"(yet): record its ending there first")
        _check_needed(results, self.outcomes_needed)
        if missing := sorted(self.outcomes_needed - set(results)):
            raise OutcomeResultMissing(
                "every outcome the plan needed gets a result at departure (achieved, not_achieved or "
                f"not_applicable); missing: {', '.join(missing)}", field="results")
        self.record(DepartureOutcomesRecorded, **_facts(episode), occurred_at=episode.ended_at,
                    departure_event_id=episode.departure_event_id, results=dict(results), independence=independence)

    # -- applying its events ------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a support episode cannot apply {event.event_type}")

    @apply.register
    def _(self, event: SupportPlanAgreed) -> None:
        self.outcomes_needed = set(event.outcomes_needed)
        self.results, self.independence, self.departure_recorded = {}, None, False
        self.agreed_on = day_of(event.occurred_at)

    @apply.register
    def _(self, event: SupportPlanReviewed) -> None:
        self.outcomes_needed |= set(event.outcomes_added)
        self.results.update(event.results)
        self.independence = event.independence or self.independence

    @apply.register
    def _(self, event: DepartureOutcomesRecorded) -> None:
        self.results.update(event.results)
        self.independence = event.independence or self.independence
        self.departure_recorded = True


def _facts(episode: KnownEpisode) -> dict:
    return {"episode_id": episode.episode_id, "scheme_id": episode.scheme_id, "provider_id": episode.provider_id,
            "service_type": episode.service_type, "case_id": episode.case_id, "person_ref": episode.person_ref,
            "district": episode.district}


def _check_dated(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now:
        raise OutcomeDatedInTheFuture(f"{occurred_at.isoformat()} is after now", field="occurred_at")


def _check_needed(results: Mapping[Outcome, OutcomeResult], needed: set[Outcome]) -> None:
    if never := sorted(set(results) - needed):
        raise OutcomeNeverNeeded(f"the plan never needed {', '.join(never)}: add it to the plan at a review first",
                                 field="results")


# -- errors -----------------------------------------------------------------------------------------


class UnknownSupportEpisode(NotFound):
    """No support episode has this id: the placement service has started no such placement or floating support
    (or the outcomes service has not heard of it yet: retry with `after=`)."""


class SupportPlanAlreadyAgreed(Conflict):
    """The episode has its support plan: change it at a review."""


class NoSupportPlan(Conflict):
    """The episode has no support plan yet: agree one first."""


class SupportPlanClosed(Conflict):
    """The plan can no longer be reviewed."""


class DepartureAlreadyRecorded(Conflict):
    """An episode's departure outcomes are recorded once."""


class EpisodeNotEnded(Conflict):
    """Outcomes at departure need the episode's end, as the placement service recorded it."""


class PlanOutsideEpisode(Refused):
    """A plan is agreed between the episode's start and its end."""


class ReviewBeforePlan(Refused):
    """A review is held on or after the day its plan was agreed (itself within the episode)."""


class OutcomeNeverNeeded(Refused):
    """A result names an outcome the plan did not need."""


class OutcomeResultMissing(Refused):
    """At departure, every outcome needed gets a result."""


class OutcomeDatedInTheFuture(Refused):
    """Something cannot be recorded as having happened after now."""
