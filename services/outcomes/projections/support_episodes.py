"""Support episodes, as the outcomes service learns them from the placement service's events.

One row per episode: a placement's stay in one scheme (PlacementStarted opens one; PlacementMoved ends it, a
departure from that service, and opens the next in the new scheme, as Kent counts departures per service), or a
floating support episode (FloatingSupportStarted, FloatingSupportEnded). An episode's id is the `event_id` of the
event that opened it, and its departure is the event that ended it (PlacementMoved, PlacementEnded,
PlacementBrokeDown or FloatingSupportEnded): every KPI figure is explained by these ids. The service type
(short-term, long-term, floating support) is the commissioners' dated rule in force on the day the episode
started (services/outcomes/rules.toml).

The outcomes store reads this table through an `EpisodeDirectory` before recording a plan, a review or departure
outcomes; the KPI queries (kpis.py) read it with the plans.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.outcomes.domain import KnownEpisode, day_of
from services.outcomes.rules import OutcomesRules
from shared.contracts.outcomes import ServiceType
from shared.contracts.placement import (
    FloatingSupportEnded,
    FloatingSupportStarted,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
)
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.projections import Projection, Recorded, event_types

TABLES = [
    "CREATE TABLE IF NOT EXISTS support_episodes ("
    " episode_id uuid PRIMARY KEY, placement_id uuid, floating_support_id uuid,"
    " case_id uuid NOT NULL, person_ref uuid NOT NULL, district text NOT NULL,"
    " scheme_id uuid NOT NULL, provider_id uuid NOT NULL, provision_type text NOT NULL,"
    " service_type text NOT NULL, started_at timestamptz NOT NULL,"
    " ended_at timestamptz, departure_event_id uuid, departure_kind text CHECK (departure_kind IN"
    " ('moved', 'ended', 'broke_down', 'floating_support_ended')), planned boolean, destination text,"
    " days_in_scheme int)",
    "CREATE INDEX IF NOT EXISTS support_episodes_open_placement ON support_episodes (placement_id)"
    " WHERE ended_at IS NULL",
    "CREATE INDEX IF NOT EXISTS support_episodes_floating ON support_episodes (floating_support_id)",
    "CREATE INDEX IF NOT EXISTS support_episodes_ended ON support_episodes (ended_at)",
    "CREATE INDEX IF NOT EXISTS support_episodes_case ON support_episodes (case_id)",
]


def destination_of_move(provision_type: ProvisionType, service_type: ServiceType) -> Destination:
    """Where a move between schemes took the young person, in the destinations' words: the kind of scheme they
    moved into."""
    match provision_type:
        case ProvisionType.supported_lodgings:
            return Destination.supported_lodgings
        case ProvisionType.social_tenancy:
            return Destination.social_rented
        case ProvisionType.private_rented_with_support:
            return Destination.private_rented
        case ProvisionType.bed_and_breakfast:
            return Destination.bed_and_breakfast
        case ProvisionType.regulated_childrens_placement:
            return Destination.regulated_childrens_placement
    return (Destination.long_term_supported_housing if service_type is ServiceType.long_term
            else Destination.short_term_supported_housing)


class SupportEpisodes(Projection):
    """Opens and ends support episodes from the placement service's events; applying an event again changes
    nothing (an episode is keyed by the event that opened it, and only an open one is ended)."""

    name = "support_episodes"
    follows = {"placement": event_types([PlacementStarted, PlacementMoved, PlacementEnded, PlacementBrokeDown,
                                         FloatingSupportStarted, FloatingSupportEnded])}
    tables = TABLES

    def __init__(self, rules: OutcomesRules):
        self.rules = rules

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event = recorded.event
        if isinstance(event, PlacementMoved):
            service_type = self._service_type(event.provision_type, event)
            await self._end(conn, "placement_id", event.placement_id, event, "moved", event.planned,
                            destination_of_move(event.provision_type, service_type), event.days_in_previous_scheme)
            await self._open(conn, event, placement_id=event.placement_id, provision_type=event.provision_type,
                             provider_id=event.provider_id)
        elif isinstance(event, PlacementStarted):
            await self._open(conn, event, placement_id=event.placement_id, provision_type=event.provision_type,
                             provider_id=event.provider_id)
        elif isinstance(event, PlacementEnded):
            await self._end(conn, "placement_id", event.placement_id, event, "ended", event.planned,
                            event.destination, event.days_in_scheme)
        elif isinstance(event, PlacementBrokeDown):
            await self._end(conn, "placement_id", event.placement_id, event, "broke_down", False,
                            event.destination, event.days_in_scheme)
        elif isinstance(event, FloatingSupportStarted):
            await self._open(conn, event, floating_support_id=event.episode_id,
                             provision_type=ProvisionType.floating_support, provider_id=event.provider_id)
        elif isinstance(event, FloatingSupportEnded):
            await self._end(conn, "floating_support_id", event.episode_id, event, "floating_support_ended",
                            event.planned, event.destination, event.days_supported)

    def _service_type(self, provision_type: ProvisionType, event: Any) -> ServiceType:
        return self.rules.service_type(provision_type, day_of(event.occurred_at))

    async def _open(self, conn: asyncpg.Connection, event: Any, *, provision_type: ProvisionType,
                    provider_id: UUID, placement_id: UUID | None = None,
                    floating_support_id: UUID | None = None) -> None:
        await conn.execute(
            "INSERT INTO support_episodes (episode_id, placement_id, floating_support_id, case_id, person_ref,"
            " district, scheme_id, provider_id, provision_type, service_type, started_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (episode_id) DO NOTHING",
            event.event_id, placement_id, floating_support_id, event.case_id, event.person_ref, event.district,
            event.scheme_id, provider_id, provision_type.value,
            self._service_type(provision_type, event).value, event.occurred_at)

    async def _end(self, conn: asyncpg.Connection, key: str, value: UUID, event: Any, kind: str, planned: bool,
                   destination: Destination, days: int) -> None:
        await conn.execute(
            f"UPDATE support_episodes SET ended_at = $3, departure_event_id = $4, departure_kind = $5,"
            f" planned = $6, destination = $7, days_in_scheme = $8"
            f" WHERE {key} = $1 AND ended_at IS NULL AND episode_id <> $2",
            value, event.event_id, event.occurred_at, event.event_id, kind, planned, destination.value, days)


def known_episode_of(row: Any) -> KnownEpisode:
    return KnownEpisode(episode_id=row["episode_id"], case_id=row["case_id"], person_ref=row["person_ref"],
                        district=row["district"], scheme_id=row["scheme_id"], provider_id=row["provider_id"],
                        service_type=ServiceType(row["service_type"]), started_at=row["started_at"],
                        ended_at=row["ended_at"], departure_event_id=row["departure_event_id"])


class EpisodeDirectory(Protocol):
    """Where the outcomes store finds what it knows of an episode."""

    def episode(self, episode_id: UUID) -> KnownEpisode | None: ...


class EpisodesInPostgres:
    """The episodes the placement events told, read with the store's own connection pool."""

    def __init__(self, datastore: Any, schema: str):
        """`datastore` is the eventsourcing PostgresDatastore of the outcomes store."""
        self.datastore = datastore
        self.schema = schema

    def prepare(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SET LOCAL search_path TO {self.schema}")
            for statement in TABLES:
                cursor.execute(statement)

    def episode(self, episode_id: UUID) -> KnownEpisode | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.schema}.support_episodes WHERE episode_id = %s", (episode_id,))
            row = cursor.fetchone()
        return known_episode_of(row) if row else None


class EpisodesInMemory:
    """Known episodes held in memory: for a store without PostgreSQL (unit tests)."""

    def __init__(self) -> None:
        self.episodes: dict[UUID, KnownEpisode] = {}

    def remember(self, episode: KnownEpisode) -> KnownEpisode:
        self.episodes[episode.episode_id] = episode
        return episode

    def episode(self, episode_id: UUID) -> KnownEpisode | None:
        return self.episodes.get(episode_id)
