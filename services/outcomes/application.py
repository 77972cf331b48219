"""Outcomes: the outcomes service's event-sourced application (support plans, reviews and outcomes at
departure, each on the support episode the placement service's events opened)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder

from services.outcomes.domain import (
    KnownEpisode,
    NoSupportPlan,
    SupportEpisode,
    SupportPlanAlreadyAgreed,
    UnknownSupportEpisode,
)
from services.outcomes.projections.support_episodes import EpisodeDirectory, EpisodesInMemory, EpisodesInPostgres
from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.outcomes import Independence, Outcome, OutcomeResult
from shared.errors import Conflict
from shared.eventstore import ServiceApplication

T = TypeVar("T")


class Outcomes(ServiceApplication):
    """Records each support episode's plan, reviews and outcomes at departure."""

    aggregate_class = SupportEpisode
    ATTEMPTS = 10

    def __init__(self, env: Mapping[str, str] | None = None):
        super().__init__(env)
        self.episodes: EpisodeDirectory
        if isinstance(self.recorder, PostgresApplicationRecorder):
            directory = EpisodesInPostgres(self.recorder.datastore, self.recorder.datastore.schema)
            directory.prepare()
            self.episodes = directory
        else:
            self.episodes = EpisodesInMemory()

    def known_episode(self, episode_id: UUID) -> KnownEpisode:
        episode = self.episodes.episode(episode_id)
        if episode is None:
            raise UnknownSupportEpisode(f"no support episode {episode_id} is known to the outcomes service (yet)")
        return episode

    def support_of(self, episode_id: UUID) -> SupportEpisode | None:
        """The provider's record of the episode, or None if no plan is agreed."""
        return self.load(episode_id)  # type: ignore[return-value]

    def agree_plan(self, context: EventContext, episode_id: UUID, *, outcomes_needed: Sequence[Outcome],
                   occurred_at: datetime) -> int:
        episode = self.known_episode(episode_id)
        if self.support_of(episode_id) is not None:
            raise SupportPlanAlreadyAgreed(f"episode {episode_id} has its support plan: change it at a review")
        plan = SupportEpisode.agree_plan(episode, outcomes_needed=outcomes_needed, occurred_at=occurred_at,
                                         now=utc_now())
        try:
            return self.record(context, plan)
        except IntegrityError:  # another request agreed one first
            raise SupportPlanAlreadyAgreed(f"episode {episode_id} has its support plan: change it at a review") \
                from None

    def review_plan(self, context: EventContext, episode_id: UUID, *, outcomes_added: Sequence[Outcome],
                    results: Mapping[Outcome, OutcomeResult], independence: Independence | None,
                    occurred_at: datetime) -> int:
        def attempt() -> int:
            episode, plan = self._planned(episode_id)
            plan.review(episode, outcomes_added=outcomes_added, results=results, independence=independence,
                        occurred_at=occurred_at, now=utc_now())
            return self.record(context, plan)
        return self._deciding_again_on_conflict(attempt)

    def record_departure(self, context: EventContext, episode_id: UUID, *, results: Mapping[Outcome, OutcomeResult],
                         independence: Independence | None) -> int:
        def attempt() -> int:
            episode, plan = self._planned(episode_id)
            plan.record_departure(episode, results=results, independence=independence)
            return self.record(context, plan)
        return self._deciding_again_on_conflict(attempt)

    def _planned(self, episode_id: UUID) -> tuple[KnownEpisode, SupportEpisode]:
        episode = self.known_episode(episode_id)
        plan = self.support_of(episode_id)
        if plan is None:
            raise NoSupportPlan(f"episode {episode_id} has no support plan yet: agree one first")
        return episode, plan

    def _deciding_again_on_conflict(self, attempt: Callable[[], T]) -> T:
        """Run a change; if another request saved a change to the same episode first, decide again."""
        for _ in range(self.ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise ChangedConcurrently(f"the change was overtaken by others {self.ATTEMPTS} times; try again")


class ChangedConcurrently(Conflict):
    """Other requests kept changing the same episode first."""
