"""Builders for the outcomes tests (no tests here): each gives a valid default and takes only what a test changes.

Dates are counted back from NOW, fixed once, so nothing is refused as dated in the future and a test that runs
over midnight sees the same days throughout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.outcomes.application import Outcomes
from services.outcomes.domain import KnownEpisode
from services.outcomes.projections.support_episodes import EpisodesInMemory
from shared.contracts import Event, EventContext
from shared.contracts.outcomes import ServiceType
from shared.eventstore import IN_MEMORY_ENV

NOW = datetime.now(UTC)
TODAY = NOW.date()
CONTEXT = EventContext(actor="provider-worker")


def days_ago(days: int, hour: int = 10) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def an_episode(**overrides: Any) -> KnownEpisode:
    """A short-term support episode in Preston that started 100 days ago and is still running."""
    fields: dict[str, Any] = {"episode_id": uuid4(), "case_id": uuid4(), "person_ref": uuid4(),
                              "district": "preston", "scheme_id": uuid4(), "provider_id": uuid4(),
                              "service_type": ServiceType.short_term, "started_at": days_ago(100)}
    return KnownEpisode(**(fields | overrides))


def ended(episode: KnownEpisode, at: datetime | None = None, departure_event_id: UUID | None = None) -> KnownEpisode:
    """The episode as the placement service ended it (10 days ago unless `at` says)."""
    return replace(episode, ended_at=at or days_ago(10), departure_event_id=departure_event_id or uuid4())


def in_memory_outcomes() -> Outcomes:
    store = Outcomes(env=IN_MEMORY_ENV)
    assert isinstance(store.episodes, EpisodesInMemory)
    return store


def known(store: Outcomes, episode: KnownEpisode) -> KnownEpisode:
    """Tell the store of the episode (as the support_episodes projection would)."""
    assert isinstance(store.episodes, EpisodesInMemory)
    return store.episodes.remember(episode)


def events_of(store: Outcomes, episode_id: UUID) -> list[Event]:
    return list(store.events.get(episode_id))
