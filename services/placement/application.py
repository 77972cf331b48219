"""Placements: the placement service's event-sourced application (catalogue, units and placements)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from itertools import count
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder

from services.placement.domain import (
    FloatingSupportEpisode,
    FloatingSupportNotFound,
    KindOfAggregate,
    Placement,
    PlacementConflict,
    PlacementNotFound,
    PlacementRules,
    Provider,
    ProviderNotFound,
    Scheme,
    SchemeNotFound,
    SupportedAccommodationRule,
    UnknownCase,
    UnknownDistrict,
    UnknownProvider,
    UnknownScheme,
    check_takes_placements,
    floating_support_episode_id_for,
    night_of,
    placement_id_for,
)
from services.placement.national_rules import supported_accommodation_in_force
from services.placement.projections.known_cases import CaseDirectory, CasesInMemory, CasesInPostgres
from services.placement.snapshots import SchemeSnapshots
from shared.aggregate import Aggregate
from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.vocabulary import Level
from shared.districts import DistrictRegister, district_register
from shared.errors import DomainError
from shared.eventstore import ServiceApplication, SqlWrite

DEVELOPMENT_PLACEMENT_ID_KEY = "casetrack-dev-placement-id-key"

A = TypeVar("A", bound=KindOfAggregate)
T = TypeVar("T")


class Placements(ServiceApplication):
    """Records the catalogue of providers and schemes, the units they let, and young people's placements."""

    aggregate_class = Placement
    ATTEMPTS = 10
    """How often a change is decided again after other requests changed the same scheme or placement first.
    Each refusal by the store means another change was saved, so deciding again makes progress: a scheme
    fills up, or the young person is placed, and the next decision refuses for that reason."""

    SNAPSHOT_EVERY = 50
    """A scheme's state is snapshotted every this many versions (PostgreSQL only), so loading it replays
    fewer events than this."""

    def __init__(self, env: dict[str, str] | None = None, *, register: DistrictRegister | None = None,
                 supported_accommodation: SupportedAccommodationRule | None = None):
        """`register`: the districts' dated rules (default: the shipped register); `supported_accommodation`: the
        national Ofsted registration rule (default: services/placement/national_rules.toml)."""
        super().__init__(env)
        self.register = register if register is not None else district_register()
        self.supported_accommodation = supported_accommodation or supported_accommodation_in_force()
        self.placement_id_key = (self.env.get("PLACEMENT_ID_KEY") or DEVELOPMENT_PLACEMENT_ID_KEY).encode()
        self.cases: CaseDirectory
        self.snapshots: SchemeSnapshots | None = None
        if isinstance(self.recorder, PostgresApplicationRecorder):
            datastore = self.recorder.datastore
            directory = CasesInPostgres(datastore, datastore.schema)
            directory.prepare()
            self.cases = directory
            self.snapshots = SchemeSnapshots(datastore, datastore.schema, self.SNAPSHOT_EVERY)
            self.snapshots.prepare()
        else:
            self.cases = CasesInMemory()

    def record(self, context: EventContext, *aggregates: Aggregate, also_write: Sequence[SqlWrite] = ()) -> int:
        """Save the aggregates' new events, and in the same transaction a snapshot of each scheme due one."""
        if self.snapshots is not None:
            schemes = [aggregate for aggregate in aggregates if isinstance(aggregate, Scheme)]
            also_write = [*also_write, *self.snapshots.due(schemes)]
        return super().record(context, *aggregates, also_write=also_write)

    # -- the catalogue ------------------------------------------------------------------------------

    def register_provider(self, context: EventContext, *, name: str, district: str,
                          occurred_at: datetime) -> tuple[Provider, int]:
        provider = Provider.register(name=name, district=district, occurred_at=occurred_at, now=utc_now())
        return provider, self.record(context, provider)

    def register_scheme(self, context: EventContext, *, provider_id: UUID, name: str, district: str,
                        provision_type: ProvisionType, pathway_stage: PathwayStage, support_level: Level,
                        support_hours_per_week: float, capacity_units: int, opened_on: date,
                        max_stay_days: int | None, target_stay_days: int | None,
                        occurred_at: datetime) -> tuple[Scheme, int]:
        provider = self._load(Provider, provider_id)
        if provider is None:
            raise UnknownProvider(f"no provider {provider_id}", field="provider_id")
        scheme = Scheme.register(
            provider=provider, name=name, district=district, provision_type=provision_type,
            pathway_stage=pathway_stage, support_level=support_level, support_hours_per_week=support_hours_per_week,
            capacity_units=capacity_units, opened_on=opened_on, max_stay_days=max_stay_days,
            target_stay_days=target_stay_days, occurred_at=occurred_at, now=utc_now())
        return scheme, self.record(context, scheme)

    def change_capacity(self, context: EventContext, scheme_id: UUID, *, units: int, effective_from: date,
                        occurred_at: datetime) -> int:
        def attempt() -> int:
            scheme = self.get_scheme(scheme_id)
            scheme.change_capacity(units=units, effective_from=effective_from, occurred_at=occurred_at,
                                   now=utc_now())
            return self.record(context, scheme)
        return self._deciding_again_on_conflict(attempt)

    # -- stay limits and Ofsted registration (issue 11) -------------------------------------------------

    def change_stay_limits(self, context: EventContext, scheme_id: UUID, *, max_stay_days: int | None,
                           target_stay_days: int | None, effective_from: date, occurred_at: datetime) -> int:
        def attempt() -> int:
            scheme = self.get_scheme(scheme_id)
            scheme.change_stay_limits(max_stay_days=max_stay_days, target_stay_days=target_stay_days,
                                      effective_from=effective_from, occurred_at=occurred_at, now=utc_now())
            return self.record(context, scheme)
        return self._deciding_again_on_conflict(attempt)

    def record_ofsted_registration(self, context: EventContext, scheme_id: UUID, *, number: str,
                                   registered_from: date, registered_until: date | None,
                                   occurred_at: datetime) -> int:
        def attempt() -> int:
            scheme = self.get_scheme(scheme_id)
            scheme.record_ofsted_registration(number=number, registered_from=registered_from,
                                              registered_until=registered_until, occurred_at=occurred_at,
                                              now=utc_now())
            return self.record(context, scheme)
        return self._deciding_again_on_conflict(attempt)

    def end_ofsted_registration(self, context: EventContext, scheme_id: UUID, *, number: str, ended_on: date,
                                occurred_at: datetime) -> int:
        def attempt() -> int:
            scheme = self.get_scheme(scheme_id)
            scheme.end_ofsted_registration(number=number, ended_on=ended_on, occurred_at=occurred_at, now=utc_now())
            return self.record(context, scheme)
        return self._deciding_again_on_conflict(attempt)

    def rules_for(self, district: str, occurred_at: datetime) -> PlacementRules:
        """The rules a placement of a case of `district` at `occurred_at` is decided under."""
        try:
            local = self.register.rules(district, night_of(occurred_at))
        except ValueError as error:  # a district the register does not know
            raise UnknownDistrict(str(error), field="case_id") from None
        return PlacementRules(routes_needing_panel=local.routes_needing_panel,
                              supported_accommodation=self.supported_accommodation)

    # -- placements ---------------------------------------------------------------------------------

    def start_placement(self, context: EventContext, *, case_id: UUID, scheme_id: UUID, route: PlacementRoute,
                        occurred_at: datetime) -> tuple[Placement, int]:
        """Place a young person in a scheme: the placement and the scheme's unit are saved together."""
        def attempt() -> tuple[Placement, int]:
            case = self.cases.case(case_id)
            if case is None:
                raise UnknownCase(f"no case {case_id} is known to the placement service (yet)", field="case_id")
            scheme = self._scheme(scheme_id, UnknownScheme, field="scheme_id")
            check_takes_placements(scheme)
            earlier = self.placements_of(case.person_ref)  # numbered under the case's person_ref now
            current = self.open_placements_of_person(case.person_ref)
            same_person = {c.case_id for c in self.cases.cases_of_person(case.person_ref)} | {case.case_id}
            theirs = [p for p in earlier if p.case_id in same_person]  # not those of a case unlinked since
            previous = current[0] if current else (theirs[-1] if theirs else None)
            number = len(earlier) + 1
            placement = Placement.start(case=case, number=number, previous=previous,
                                        placement_id=placement_id_for(case.person_ref, number, self.placement_id_key),
                                        scheme=scheme, route=route, rules=self.rules_for(case.district, occurred_at),
                                        occurred_at=occurred_at, now=utc_now())
            return placement, self.record(context, placement, scheme)
        return self._deciding_again_on_conflict(attempt)

    def move_placement(self, context: EventContext, placement_id: UUID, *, to_scheme_id: UUID,
                       direction: MoveDirection, planned: bool, overlap_until: date | None,
                       occurred_at: datetime, reason: MoveReason | None = None) -> int:
        def attempt() -> int:
            placement = self.get_placement(placement_id)
            leaving = self.get_scheme(placement.scheme_id)
            to = self._scheme(to_scheme_id, UnknownScheme, field="to_scheme_id")
            check_takes_placements(to, field="to_scheme_id")
            case = self.cases.case(placement.case_id)
            if case is None:
                raise UnknownCase(f"case {placement.case_id} of placement {placement_id} is not known (yet)")
            placement.move(leaving=leaving, to=to, direction=direction, planned=planned, reason=reason,
                           overlap_until=overlap_until, occurred_at=occurred_at, now=utc_now(), case=case,
                           supported_accommodation=self.supported_accommodation)
            return self.record(context, placement, leaving, to)
        return self._deciding_again_on_conflict(attempt)

    def end_placement(self, context: EventContext, placement_id: UUID, *, planned: bool, destination: Destination,
                      occurred_at: datetime) -> int:
        return self._leaving(context, placement_id, occurred_at, lambda placement, **schemes: placement.end(
            planned=planned, destination=destination, occurred_at=occurred_at, now=utc_now(), **schemes))

    def record_breakdown(self, context: EventContext, placement_id: UUID, *, reason: BreakdownReason,
                         destination: Destination | None, occurred_at: datetime) -> int:
        return self._leaving(context, placement_id, occurred_at, lambda placement, **schemes: placement.break_down(
            reason=reason, destination=destination, occurred_at=occurred_at, now=utc_now(), **schemes))

    def _leaving(self, context: EventContext, placement_id: UUID, occurred_at: datetime,
                 leave: Callable[..., None]) -> int:
        """The placement ends (a move-on or a breakdown): its scheme's unit, and any still held on a planned
        overlap, are released in the same save."""
        def attempt() -> int:
            placement = self.get_placement(placement_id)
            scheme = self.get_scheme(placement.scheme_id)
            holding = self._schemes_held_after(placement, occurred_at)
            leave(placement, scheme=scheme, holding=holding)
            return self.record(context, placement, scheme, *holding)
        return self._deciding_again_on_conflict(attempt)

    def record_bed_and_breakfast_nights(self, context: EventContext, placement_id: UUID, *, first_night: date,
                                        nights: int) -> int:
        def attempt() -> int:
            placement = self.get_placement(placement_id)
            placement.record_bed_and_breakfast_nights(first_night=first_night, nights=nights, now=utc_now())
            return self.record(context, placement)
        return self._deciding_again_on_conflict(attempt)

    # -- floating support -------------------------------------------------------------------------

    def start_floating_support(self, context: EventContext, *, case_id: UUID, scheme_id: UUID,
                               occurred_at: datetime) -> tuple[FloatingSupportEpisode, int]:
        """Start a young person's floating support: the episode and the scheme's support place are saved
        together. It may run alongside their placement, if they are in one."""
        def attempt() -> tuple[FloatingSupportEpisode, int]:
            case = self.cases.case(case_id)
            if case is None:
                raise UnknownCase(f"no case {case_id} is known to the placement service (yet)", field="case_id")
            scheme = self._scheme(scheme_id, UnknownScheme, field="scheme_id")
            earlier = self.floating_support_of(case.person_ref)
            current = self.open_floating_support_of_person(case.person_ref)
            same_person = {c.case_id for c in self.cases.cases_of_person(case.person_ref)} | {case.case_id}
            theirs = [e for e in earlier if e.case_id in same_person]
            previous = current[0] if current else (theirs[-1] if theirs else None)
            number = len(earlier) + 1
            episode = FloatingSupportEpisode.start(
                case=case, number=number, previous=previous, scheme=scheme,
                episode_id=floating_support_episode_id_for(case.person_ref, number, self.placement_id_key),
                in_placement_id=self._placement_on(case.person_ref, occurred_at), occurred_at=occurred_at,
                now=utc_now())
            return episode, self.record(context, episode, scheme)
        return self._deciding_again_on_conflict(attempt)

    def end_floating_support(self, context: EventContext, episode_id: UUID, *, planned: bool,
                             destination: Destination, hours_delivered: float | None, occurred_at: datetime) -> int:
        """End an episode: its support place is released in the same save."""
        def attempt() -> int:
            episode = self.get_floating_support(episode_id)
            scheme = self.get_scheme(episode.scheme_id)
            episode.end(scheme=scheme, planned=planned, destination=destination, hours_delivered=hours_delivered,
                        occurred_at=occurred_at, now=utc_now())
            return self.record(context, episode, scheme)
        return self._deciding_again_on_conflict(attempt)

    def get_floating_support(self, episode_id: UUID) -> FloatingSupportEpisode:
        episode = self._load(FloatingSupportEpisode, episode_id)
        if episode is None:
            raise FloatingSupportNotFound(f"no floating support episode {episode_id}")
        return episode

    def floating_support_of(self, person_ref: UUID) -> list[FloatingSupportEpisode]:
        """A young person's floating support episodes, first to last (their ids follow from the person_ref)."""
        episodes = []
        for number in count(1):
            episode = self._load(FloatingSupportEpisode,
                                 floating_support_episode_id_for(person_ref, number, self.placement_id_key))
            if episode is None:
                return episodes
            episodes.append(episode)
        raise AssertionError("unreachable")

    def open_floating_support_of_person(self, person_ref: UUID) -> list[FloatingSupportEpisode]:
        """The young person's open episodes, whichever person_ref each was started under (as for placements)."""
        cases = self.cases.cases_of_person(person_ref) or [None]
        refs = {ref for case in cases if case for ref in case.person_refs} | {person_ref}
        case_ids = {case.case_id for case in cases if case}
        return [episode for ref in sorted(refs, key=str) for episode in self.floating_support_of(ref)
                if episode.open and (not case_ids or episode.case_id in case_ids)]

    def current_floating_support(self, person_ref: UUID) -> FloatingSupportEpisode | None:
        current = self.open_floating_support_of_person(person_ref)
        return current[0] if current else None

    def _placement_on(self, person_ref: UUID, moment: datetime) -> UUID | None:
        """The placement the young person was in at `moment`, if any."""
        for placement in self.placements_of(person_ref):
            if placement.started_at <= moment and (placement.ended_at is None or moment < placement.ended_at):
                return placement.id
        return None

    # -- reading ------------------------------------------------------------------------------------

    def _schemes_held_after(self, placement: Placement, occurred_at: datetime) -> list[Scheme]:
        return [self.get_scheme(scheme_id) for scheme_id in placement.schemes_held_after(night_of(occurred_at))
                if scheme_id != placement.scheme_id]

    def placements_of(self, person_ref: UUID) -> list[Placement]:
        """A young person's placements, first to last (their ids follow from the person_ref)."""
        placements = []
        for number in count(1):
            placement = self._load(Placement, placement_id_for(person_ref, number, self.placement_id_key))
            if placement is None:
                return placements
            placements.append(placement)
        raise AssertionError("unreachable")

    def open_placements_of_person(self, person_ref: UUID) -> list[Placement]:
        """The young person's open placements, whichever person_ref each was started under (a case linked
        or unlinked since keeps its placements): those of cases whose young person is now `person_ref`."""
        cases = self.cases.cases_of_person(person_ref) or [None]
        refs = {ref for case in cases if case for ref in case.person_refs} | {person_ref}
        case_ids = {case.case_id for case in cases if case}
        return [placement for ref in sorted(refs, key=str) for placement in self.placements_of(ref)
                if placement.open and (not case_ids or placement.case_id in case_ids)]

    def current_placement(self, person_ref: UUID) -> Placement | None:
        current = self.open_placements_of_person(person_ref)
        return current[0] if current else None

    def get_placement(self, placement_id: UUID) -> Placement:
        placement = self._load(Placement, placement_id)
        if placement is None:
            raise PlacementNotFound(f"no placement {placement_id}")
        return placement

    def get_scheme(self, scheme_id: UUID) -> Scheme:
        return self._scheme(scheme_id, SchemeNotFound)

    def get_provider(self, provider_id: UUID) -> Provider:
        provider = self._load(Provider, provider_id)
        if provider is None:
            raise ProviderNotFound(f"no provider {provider_id}")
        return provider

    def schemes(self, scheme_ids: list[UUID]) -> list[Scheme]:
        """The schemes with these ids (those that exist), each from its latest snapshot and the events after."""
        snapshots = self.snapshots.latest(scheme_ids) if self.snapshots else {}
        schemes = (self._load_scheme(scheme_id, snapshots.get(scheme_id)) for scheme_id in scheme_ids)
        return [scheme for scheme in schemes if scheme is not None]

    def _scheme(self, scheme_id: UUID, missing: type[DomainError], field: str | None = None) -> Scheme:
        found = self.schemes([scheme_id])
        if not found:
            raise missing(f"no scheme {scheme_id}", field=field)
        return found[0]

    def _load_scheme(self, scheme_id: UUID, snapshot: Scheme | None) -> Scheme | None:
        if snapshot is None:
            return self._load(Scheme, scheme_id)
        return snapshot.catch_up(self.events.get(scheme_id, gt=snapshot.version))

    def _load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        events = list(self.events.get(aggregate_id))
        if not events or not isinstance(events[0], kind.created_by):
            return None
        return kind.from_history(events)

    def _deciding_again_on_conflict(self, attempt: Callable[[], T]) -> T:
        """Run a change; if another request saved a change to the same scheme or placement first (the
        store refuses the second version of an aggregate), decide again on what that request saved."""
        for _ in range(self.ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise ChangedConcurrently(f"the change was overtaken by others {self.ATTEMPTS} times; try again")


class ChangedConcurrently(PlacementConflict):
    """Other requests kept changing the same scheme or placement first."""
