"""The journeys read side at scale (`casetrack bench --young-people N`, issue 14): a seeded synthetic county of young
people's journeys, its events applied through every journeys projection, and the journey and pathway map reads
timed on the result, each figure beside a raw PostgreSQL baseline taken in the same run.

`synthetic_county(young_people, seed)` yields real contract events (referral, placement and finance), streamed in the
order they would be recorded: over three simulated years (2023-2025) young people are referred in a dozen districts
of the district register; each journey runs through the stages the pathway map knows (presentation, prevention,
assessment, panel, emergency, supported, move-on, re-presentation) with breakdowns, moves, B&B nights, floating
support, planned and unplanned endings, returns (a case reopened, or a second case linked to the same person),
turning 18, flags, and each stay's cost per month. The same seed gives the same events.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from services.journeys.pathway_queries import Chosen, young_person_journey
from services.journeys.projections.cases_by_district import CasesByDistrict
from services.journeys.projections.journeys import JourneyProjection
from services.journeys.projections.status_periods import StatusPeriods
from services.journeys.summaries import pathway_map_of, summarize_waiting
from services.referral.domain.case import COHORT_AT_18, STATUS_AT_18, age_on, counted_as_18_from, months_later
from shared.contracts import Event
from shared.contracts.finance import (
    ALL,
    ContractAgreed,
    ContractPriceChanged,
    CostAccrued,
    CostPart,
    FundingShare,
    FundingStream,
    Package,
    Procurement,
    SchemeCovered,
)
from shared.contracts.outcomes import ServiceType
from shared.contracts.placement import (
    NO_CASE,
    BedAndBreakfastNightsRecorded,
    FloatingSupportEnded,
    FloatingSupportStarted,
    PlacementBrokeDown,
    PlacementEnded,
    PlacementMoved,
    PlacementStarted,
    ProviderRegistered,
    SchemeRegistered,
    UnitAllocated,
    UnitReleased,
)
from shared.contracts.placement_vocabulary import (
    BreakdownReason,
    Destination,
    MoveDirection,
    MoveReason,
    PathwayStage,
    PlacementRoute,
    ProvisionType,
)
from shared.contracts.referral import (
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    DutyEnded,
    DutyStarted,
    EligibilityDecided,
    FlagRaised,
    LegalStatusChanged,
    MediationAttempted,
    MediationConcluded,
    PanelDecisionMade,
    PersonLinked,
    ReferralMade,
    RestrictedFlagRaised,
    ReturnHomeFollowedUp,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Duty,
    DutyEndReason,
    Flag,
    Gateway,
    LegalStatus,
    Level,
    LinkBasis,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    StatusChangeReason,
    SupportNeed,
)
from shared.districts import district_register
from shared.projections import Projection, Recorded, prepare_projection, tracking_ddl
from shared.subjects import stream_name

if TYPE_CHECKING:
    from shared.bench import Bench, Figure, Reading

START = datetime(2023, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
"""The simulated years: young people are referred from START until END; nothing recorded from END on is known."""
REFERRALS_UNTIL = datetime(2025, 7, 1, tzinfo=UTC)
"""Referrals arrive evenly until then; the last half year sees journeys go on (and returns)."""
TODAY = END.date()
"""The day the bench reads the journeys on."""
DISTRICTS = 12
SERVICES = ("referral", "placement", "finance")


def synthetic_county(young_people: int, seed: int) -> Iterator[Recorded]:
    """A county's events, in the order they were recorded (each service's stream with its own sequence): its
    providers, schemes and contracts, then `young_people` journeys referred evenly over the simulated years."""
    rng = random.Random(seed)
    county = County.of(rng)
    sequences = dict.fromkeys(SERVICES, 0)

    def recorded(event: Event) -> Recorded:
        sequences[event.service] += 1
        return Recorded(event, stream_name(event.service), sequences[event.service], sequences[event.service])

    for event in county.catalogue():
        yield recorded(event)
    lettings = Counter({scheme.scheme_id: 1 for scheme in county.schemes})
    waiting: list[tuple[datetime, int, int, list[list]]] = [(uplifts[0][0], -1, 0, uplifts)
                                                           for uplifts in [county.uplifts()] if uplifts]
    gap = (REFERRALS_UNTIL - START) / max(young_people, 1)
    for serial in range(young_people):
        referred = START + gap * (serial + rng.random())
        while waiting and waiting[0][0] < referred:  # every later young person's events are recorded after this
            yield recorded(_next_event(waiting, lettings, rng))
        specs = Journey(rng, county).plan(referred)
        if specs:
            heapq.heappush(waiting, (specs[0][0], serial, 0, specs))
    while waiting:
        yield recorded(_next_event(waiting, lettings, rng))


def _next_event(waiting: list, lettings: Counter, rng: random.Random) -> Event:
    recorded_at, serial, index, specs = heapq.heappop(waiting)
    spec, specs[index] = specs[index], None
    if index + 1 < len(specs):
        heapq.heappush(waiting, (specs[index + 1][0], serial, index + 1, specs))
    if spec[2] in LETTINGS:  # a scheme's history is every young person's: its version is counted here
        lettings[spec[3]] += 1
        spec[7] = lettings[spec[3]]
    return _event(spec, rng)


def _event(spec: list, rng: random.Random) -> Event:
    recorded_at, occurred_at, kind, aggregate_id, event_id, case, facts, version = spec
    return kind(event_id=event_id, aggregate_id=aggregate_id, aggregate_version=version, case_id=case.case_id,
                person_ref=case.person_at(occurred_at), district=case.district, occurred_at=occurred_at,
                recorded_at=recorded_at, actor="bench", correlation_id=_uuid(rng), **facts)


def _uuid(rng: random.Random) -> UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _pick(rng: random.Random, weighted: dict) -> Any:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


# -- the county: districts, providers, schemes and their contracts ----------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    scheme_id: UUID
    provider_id: UUID
    name: str
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level
    hours: float
    district: str
    contract_id: UUID
    package: Package
    funding: tuple[FundingShare, ...]

    def facts(self) -> dict:
        return {"scheme_id": self.scheme_id, "provider_id": self.provider_id, "provision_type": self.provision_type,
                "pathway_stage": self.pathway_stage, "support_level": self.support_level,
                "scheme_district": self.district}

    @property
    def rank(self) -> tuple[int, float]:
        return ({Level.low: 1, Level.medium: 2, Level.high: 3}[self.support_level], self.hours)

    def direction_from(self, other: Scheme) -> MoveDirection:
        if self.rank == other.rank:
            return MoveDirection.lateral
        return MoveDirection.step_up if self.rank > other.rank else MoveDirection.step_down

    def cost(self, days: int, uplift: float = 1.0) -> CostPart:
        """What `days` nights cost: each part of the weekly package (uplifted) pro rata, split between the funding
        streams."""
        part = {name: round(getattr(self.package, name) * uplift * days / 7)
                for name in ("rent", "service_charge", "support")}
        whole = sum(part.values())
        by_stream = {share.stream: whole * share.share // ALL for share in self.funding}
        by_stream[self.funding[0].stream] += whole - sum(by_stream.values())
        return CostPart(**part, by_stream=by_stream)


LOCAL_SCHEMES = ((ProvisionType.emergency_assessment_bed, PathwayStage.assessment, Level.medium, 15.0),
                 (ProvisionType.foyer, PathwayStage.progression, Level.medium, 10.0))
"""Each district's own: an emergency assessment bed scheme and a foyer (or young people's supported accommodation)."""
SHARED_SCHEMES = (
    (ProvisionType.bed_and_breakfast, PathwayStage.assessment, Level.low, 0.0, 3),
    (ProvisionType.nightstop, PathwayStage.assessment, Level.low, 2.0, 2),
    (ProvisionType.all_ages_hostel, PathwayStage.assessment, Level.medium, 6.0, 1),
    (ProvisionType.core_24_7, PathwayStage.specialist, Level.high, 30.0, 3),
    (ProvisionType.teenage_parent_service, PathwayStage.specialist, Level.high, 20.0, 2),
    (ProvisionType.regulated_childrens_placement, PathwayStage.specialist, Level.high, 40.0, 2),
    (ProvisionType.supported_lodgings, PathwayStage.progression, Level.low, 5.0, 3),
    (ProvisionType.cluster_unit, PathwayStage.progression, Level.medium, 8.0, 3),
    (ProvisionType.visiting_support, PathwayStage.progression, Level.low, 4.0, 1),
    (ProvisionType.private_rented_with_support, PathwayStage.move_on, Level.low, 3.0, 3),
    (ProvisionType.social_tenancy, PathwayStage.move_on, Level.low, 2.0, 2),
    (ProvisionType.floating_support, PathwayStage.progression, Level.low, 3.0, 2),
)
"""Schemes taking young people from any district, each in one of them: (type, stage, level, hours, how many)."""
PROVIDERS = 12
UPLIFTS = ((date(2023, 4, 1), datetime(2023, 7, 10, 9, tzinfo=UTC)),
           (date(2024, 4, 1), datetime(2024, 6, 17, 9, tzinfo=UTC)),
           (date(2025, 4, 1), datetime(2025, 8, 4, 9, tzinfo=UTC)))
"""Each contract's yearly price uplift (3%): from 1 April, agreed (and recorded) months later, so the months
costed meanwhile are costed again (a second CostAccrued of the stay and month)."""
UPLIFT = 1.03
LETTINGS = (UnitAllocated, UnitReleased)


def uplift(month: date, known_at: datetime) -> float:
    """The price factor of a month's nights as known at `known_at`."""
    return UPLIFT ** sum(1 for effective, recorded in UPLIFTS if effective <= month and recorded <= known_at)


@dataclass
class County:
    districts: tuple[str, ...]
    weights: tuple[int, ...]
    providers: tuple[UUID, ...]
    schemes: list[Scheme]
    by_type: dict[ProvisionType, list[Scheme]] = field(default_factory=dict)
    lancashire: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rng: random.Random) -> County:
        register = district_register()
        whole_time = sorted({d.code for d in register.on(START.date())} & {d.code for d in register.on(TODAY)})
        districts = tuple(sorted(rng.sample(whole_time, min(DISTRICTS, len(whole_time)))))
        providers = tuple(_uuid(rng) for _ in range(PROVIDERS))
        schemes: list[Scheme] = []

        def scheme(kind: ProvisionType, stage: PathwayStage, level: Level, hours: float, district: str) -> None:
            weekly = {Level.low: 8_000, Level.medium: 25_000, Level.high: 60_000}[level]
            rent = 0 if kind is ProvisionType.floating_support else rng.randrange(9_000, 25_000, 100)
            package = Package(rent=rent, service_charge=0 if rent == 0 else rng.randrange(1_000, 5_000, 100),
                              support=0 if kind is ProvisionType.bed_and_breakfast
                              else rng.randrange(weekly // 2, weekly * 3 // 2, 100))
            payer = {PathwayStage.specialist: FundingStream.childrens_services_placements,
                     PathwayStage.assessment: FundingStream.section_17}.get(stage,
                                                                           FundingStream.housing_related_support)
            housing = rng.randrange(2_000, 8_000, 500)
            funding = ((FundingShare(stream=FundingStream.temporary_accommodation, share=ALL),)
                       if kind is ProvisionType.bed_and_breakfast
                       else (FundingShare(stream=payer, share=ALL - housing),
                             FundingShare(stream=FundingStream.housing_benefit, share=housing)))
            schemes.append(Scheme(_uuid(rng), rng.choice(providers), f"{kind.value} {len(schemes) + 1}", kind, stage,
                                  level, hours, district, _uuid(rng), package, funding))

        for district in districts:
            for kind, stage, level, hours in LOCAL_SCHEMES:
                if kind is ProvisionType.foyer and rng.random() < 0.4:
                    kind = ProvisionType.young_peoples_supported_accommodation
                scheme(kind, stage, level, hours, district)
        for kind, stage, level, hours, count in SHARED_SCHEMES:
            for _ in range(count):
                scheme(kind, stage, level, hours, rng.choice(districts))
        county = cls(districts, tuple(rng.randint(1, 4) for _ in districts), providers, schemes,
                     lancashire=frozenset(code for code in districts
                                          if register.district(code).county == "lancashire"))
        for one in schemes:
            county.by_type.setdefault(one.provision_type, []).append(one)
        return county

    def district(self, rng: random.Random) -> str:
        return rng.choices(self.districts, weights=self.weights)[0]

    def scheme(self, rng: random.Random, kind: ProvisionType, district: str) -> Scheme:
        """A scheme of this type, in the young person's district when there is one (most often)."""
        schemes = self.by_type[kind]
        local = [one for one in schemes if one.district == district]
        return rng.choice(local if local and rng.random() < 0.8 else schemes)

    def uplifts(self) -> list[list]:
        """Each contract's price uplifts, as event specs in the order recorded (see `Journey`)."""
        specs = []
        for year, (effective, recorded) in enumerate(UPLIFTS, start=1):
            for one in self.schemes:
                package = Package(**{part: round(getattr(one.package, part) * UPLIFT ** year)
                                     for part in ("rent", "service_charge", "support")})
                specs.append([recorded, recorded, ContractPriceChanged, one.contract_id,
                              uuid.uuid5(one.contract_id, f"uplift {year}"), Case(NO_CASE, one.district, NO_CASE),
                              {"contract_id": one.contract_id, "effective_from": effective, "package": package},
                              1 + year])
        return [spec for spec in specs if spec[0] < END]

    def catalogue(self) -> Iterator[Event]:
        """The providers, schemes and contracts, recorded before the first referral."""
        moment = START - timedelta(days=30)

        def envelope(aggregate_id: UUID, kind: str, district: str) -> dict:
            return {"event_id": uuid.uuid5(aggregate_id, kind), "aggregate_id": aggregate_id, "aggregate_version": 1,
                    "case_id": NO_CASE, "person_ref": NO_CASE, "district": district, "occurred_at": moment,
                    "recorded_at": moment, "actor": "bench", "correlation_id": aggregate_id}

        for n, provider_id in enumerate(self.providers, start=1):
            moment += timedelta(minutes=1)
            yield ProviderRegistered(**envelope(provider_id, "registered", self.districts[n % len(self.districts)]),
                                     provider_id=provider_id, name=f"Provider {n}")
        for one in self.schemes:
            moment += timedelta(minutes=1)
            yield SchemeRegistered(**envelope(one.scheme_id, "registered", one.district), scheme_id=one.scheme_id,
                                   provider_id=one.provider_id, name=one.name, provision_type=one.provision_type,
                                   pathway_stage=one.pathway_stage, support_level=one.support_level,
                                   support_hours_per_week=one.hours, capacity_units=40, opened_on=date(2020, 4, 1))
            block = one.provision_type in (ProvisionType.emergency_assessment_bed, ProvisionType.foyer)
            procurement = (Procurement.spot if one.pathway_stage is PathwayStage.assessment and not block
                           else Procurement.block_gross if block else Procurement.framework)
            service_type = (ServiceType.floating_support if one.provision_type is ProvisionType.floating_support
                            else ServiceType.long_term if one.pathway_stage is PathwayStage.move_on
                            else ServiceType.short_term)
            yield ContractAgreed(**envelope(one.contract_id, "agreed", one.district), contract_id=one.contract_id,
                                 provider_id=one.provider_id, name=f"contract for {one.name}", procurement=procurement,
                                 service_type=service_type, scheme_ids=[one.scheme_id], starts_on=date(2020, 4, 1),
                                 contracted_units=20 if block else None, package=one.package,
                                 funding=list(one.funding))
            yield SchemeCovered(**envelope(one.scheme_id, "covered", one.district), scheme_id=one.scheme_id,
                                contract_id=one.contract_id, starts_on=date(2020, 4, 1))


# -- a young person's journey -----------------------------------------------------------------------------------------


@dataclass
class Case:
    """A case of the journey: its district, and its person (the young person's own, until linked to a person known)."""

    case_id: UUID
    district: str
    own_ref: UUID
    linked_to: UUID | None = None
    linked_at: datetime | None = None

    def person_at(self, moment: datetime) -> UUID:
        return self.linked_to if self.linked_at is not None and moment >= self.linked_at else self.own_ref


@dataclass
class Stay:
    """A placement (or floating support episode) and the scheme the young person is in now."""

    stay_id: UUID
    """The event that began the stay in its current scheme (what its costs are accrued against)."""
    aggregate_id: UUID
    scheme: Scheme
    placed: datetime
    since: datetime
    floating: bool = False


PLANNED_DESTINATIONS = {Destination.private_rented: 4, Destination.social_rented: 3, Destination.friends_or_family: 2,
                        Destination.long_term_supported_housing: 2, Destination.supported_lodgings: 1,
                        Destination.previous_home: 1}
UNPLANNED_DESTINATIONS = {Destination.not_known: 3, Destination.friends_or_family: 3, Destination.sleeping_rough: 1,
                          Destination.custody: 1, Destination.abandoned: 1, Destination.other: 1}
BREAKDOWNS = {BreakdownReason.young_person_left: 5, BreakdownReason.evicted_by_provider: 4,
              BreakdownReason.notice_given_by_provider: 4, BreakdownReason.abandonment: 3,
              BreakdownReason.safeguarding: 2, BreakdownReason.custody: 1, BreakdownReason.hospital: 1}
MOVE_REASONS = {MoveReason.needs_increased: 4, MoveReason.risk_to_self: 2, MoveReason.risk_to_others: 1,
                MoveReason.conflict_with_residents: 3, MoveReason.young_person_asked: 2, MoveReason.safeguarding: 1,
                MoveReason.notice_given_by_provider: 2, MoveReason.other: 1}
GATEWAYS = {
    Cohort.homeless_16_17: {Gateway.district_housing_options: 11, Gateway.hub: 5, Gateway.self_referral: 2,
                            Gateway.childrens_services: 2},
    Cohort.looked_after_16_17: {Gateway.childrens_services: 8, Gateway.hub: 2},
    Cohort.care_leaver: {Gateway.leaving_care_team: 17, Gateway.childrens_services: 3},
    Cohort.young_person_at_risk: {Gateway.district_housing_options: 7, Gateway.hub: 3, Gateway.self_referral: 2,
                                  Gateway.provider: 2, Gateway.youth_offending_team: 2, Gateway.probation: 2,
                                  Gateway.multi_agency: 2},
}
REFERRAL_FLAGS = {Flag.uasc: 0.0, Flag.teenage_parent: 0.05, Flag.youth_justice: 0.07, Flag.mental_health: 0.15,
                  Flag.neet: 0.2, Flag.substance_misuse: 0.06, Flag.in_education: 0.15}
"""Each flag's chance of being given with a referral (UASC: looked-after children and care leavers, below)."""
LATE = frozenset({AssessmentCompleted, PanelDecisionMade, CaseClosed, PersonLinked, FlagRaised, DutyEnded,
                  BedAndBreakfastNightsRecorded})
"""Events sometimes recorded days after they happened (as_of then leaves them out)."""
RETURNS = 2
"""A young person presents again at most this many times."""


class Journey:
    """Plans one young person's journey as event specs, in the order they are recorded: [recorded_at, occurred_at,
    event class, aggregate, event_id, case, facts, aggregate version]."""

    def __init__(self, rng: random.Random, county: County):
        self.rng, self.county = rng, county
        self.specs: list[list] = []
        self.statuses: list[tuple[datetime, LegalStatus, Cohort]] = []
        self.placements = self.episodes = self.returns = self.mediations = 0
        self.flags: set[Flag] = set()

    # -- the envelope, times and status --------------------------------------------------------------------------------

    def add(self, kind: type[Event], when: datetime, aggregate_id: UUID, case: Case | None = None,
            recorded: datetime | None = None, **facts) -> UUID:
        event_id = _uuid(self.rng)
        if recorded is None:
            recorded = when + (timedelta(days=self.rng.uniform(1, 25)) if kind in LATE and self.rng.random() < 0.02
                               else timedelta(minutes=self.rng.randint(5, 360)))
        self.specs.append([recorded, when, kind, aggregate_id, event_id, case or self.case, facts, 0])
        return event_id

    def letting(self, kind: type[Event], scheme: Scheme, letting_id: UUID, day: date) -> None:
        """The scheme's unit (or support place) let or released with the step just added, in the same save."""
        step = self.specs[-1]
        facts = {"from_night": day} if kind is UnitAllocated else {"released_on": day}
        self.specs.append([step[0], step[1], kind, scheme.scheme_id, _uuid(self.rng),
                           Case(NO_CASE, scheme.district, NO_CASE), {"scheme_id": scheme.scheme_id,
                                                                     "placement_id": letting_id, **facts}, 0])

    def on_case(self, kind: type[Event], when: datetime, **facts) -> UUID:
        return self.add(kind, when, self.case.case_id, **facts)

    def later(self, moment: datetime, least: float, most: float) -> datetime:
        """A working-hours moment `least` to `most` days after `moment` (never before it)."""
        day = (moment + timedelta(days=self.rng.uniform(least, most))).date()
        then = datetime(day.year, day.month, day.day, self.rng.randint(8, 17), self.rng.randint(0, 59), tzinfo=UTC)
        return max(then, moment + timedelta(minutes=self.rng.randint(1, 30)))

    def status(self, moment: datetime) -> tuple[LegalStatus, Cohort, int]:
        """The legal status, cohort and real age on `moment` (turned 18 once counted so, or once truly 18 at a
        (re)presentation: the caller's `adult`)."""
        age = age_on(self.born, moment.date())
        _, legal, cohort = [entry for entry in self.statuses if entry[0] <= moment][-1]
        if moment >= self.counted_18 or age >= 18:
            legal = STATUS_AT_18.get(legal, legal)
            cohort = COHORT_AT_18.get(legal, cohort)
        return legal, cohort, age

    def cohort(self, moment: datetime) -> Cohort:
        _, legal, cohort = [entry for entry in self.statuses if entry[0] <= moment][-1]
        if moment >= self.counted_18:
            cohort = COHORT_AT_18.get(STATUS_AT_18.get(legal, legal), cohort)
        return cohort

    # -- the whole journey ---------------------------------------------------------------------------------------------

    def plan(self, referred: datetime) -> list[list]:
        rng = self.rng
        cohort = _pick(rng, {Cohort.homeless_16_17: 40, Cohort.looked_after_16_17: 12, Cohort.care_leaver: 20,
                             Cohort.young_person_at_risk: 28})
        youngest, oldest = {Cohort.homeless_16_17: (16, 17), Cohort.looked_after_16_17: (16, 17),
                            Cohort.care_leaver: (16, 21), Cohort.young_person_at_risk: (16, 22)}[cohort]
        self.born = referred.date() - timedelta(days=rng.randint(youngest * 366, oldest * 365 + 364))
        age = age_on(self.born, referred.date())
        self.counted_18 = counted_as_18_from(self.born)
        legal = self.first_status(cohort, age)
        self.statuses.append((referred - timedelta(days=1), legal, cohort))
        self.case = Case(_uuid(rng), self.county.district(rng), _uuid(rng))
        self.flags = {flag for flag, chance in REFERRAL_FLAGS.items() if rng.random() < chance}
        if cohort in (Cohort.looked_after_16_17, Cohort.care_leaver) and rng.random() < 0.15:
            self.flags.add(Flag.uasc)
        self.present(referred, reopened=False)
        return self.recorded_in_order()

    def first_status(self, cohort: Cohort, age: int) -> LegalStatus:
        rng = self.rng
        if cohort is Cohort.homeless_16_17:
            return LegalStatus.child_in_need if rng.random() < 0.2 else LegalStatus.not_looked_after
        if cohort is Cohort.looked_after_16_17:
            return _pick(rng, {LegalStatus.looked_after_section_20: 12, LegalStatus.looked_after_care_order: 5,
                               LegalStatus.eligible: 3})
        if cohort is Cohort.care_leaver:
            if age < 18:
                return LegalStatus.relevant if rng.random() < 0.6 else LegalStatus.eligible
            return LegalStatus.qualifying if rng.random() < 0.15 else LegalStatus.former_relevant
        return LegalStatus.child_in_need if age < 18 and rng.random() < 0.1 else LegalStatus.not_looked_after

    def present(self, moment: datetime, reopened: bool) -> None:
        """A (re)presentation and what follows it, to the journey's end or the young person's next return."""
        rng = self.rng
        legal, cohort, age = self.status(moment)
        reason = _pick(rng, {PresentingReason.parental_eviction: 5, PresentingReason.family_breakdown: 5,
                             PresentingReason.relationship_breakdown: 2, PresentingReason.leaving_care: 2,
                             PresentingReason.domestic_abuse: 1, PresentingReason.loss_of_tenancy: 1,
                             PresentingReason.rough_sleeping: 1, PresentingReason.leaving_custody: 1})
        if reopened:
            self.on_case(CaseReopened, moment, presenting_reason=reason, cohort=cohort, legal_status=legal,
                         age_at_event=age)
        else:
            self.on_case(ReferralMade, moment, gateway=_pick(rng, GATEWAYS[cohort]), cohort=cohort,
                         legal_status=legal, age_at_event=age, flags=sorted(self.flags), presenting_reason=reason)
        self.pathway(moment, first=not reopened)

    def pathway(self, moment: datetime, first: bool) -> None:
        rng = self.rng
        legal, cohort, age = self.status(moment)
        duty: Duty | None = None
        homeless = legal in (LegalStatus.not_looked_after, LegalStatus.child_in_need)
        if homeless and first:
            moment = self.later(moment, 0, 4)
            if rng.random() < 0.04:
                self.on_case(EligibilityDecided, moment, eligible=False)
                return self.close(self.later(moment, 1, 10), ClosureReason.not_eligible)
            self.on_case(EligibilityDecided, moment, eligible=True)
        if homeless:
            moment = self.later(moment, 0, 3)
            self.on_case(DutyStarted, moment, duty=Duty.prevention)
            if rng.random() < (0.55 if age < 18 else 0.25):
                moment, settled = self.mediation(moment)
                if settled:
                    return
            moment = self.later(moment, 2, 14)
            self.on_case(DutyEnded, moment, duty=Duty.prevention, reason=DutyEndReason.became_homeless)
            self.on_case(DutyStarted, moment, duty=Duty.relief)
            duty = Duty.relief
            if (cohort is Cohort.homeless_16_17 and rng.random() < 0.22
                    and (southwark := self.later(moment, 1, 10)) < self.counted_18
                    and age_on(self.born, southwark.date()) < 18):
                moment = southwark
                self.on_case(LegalStatusChanged, moment, legal_status=LegalStatus.looked_after_section_20,
                             previous_legal_status=legal, cohort=Cohort.looked_after_16_17,
                             reason=StatusChangeReason.southwark_assessment,
                             age_at_event=age_on(self.born, moment.date()))
                self.statuses.append((moment, LegalStatus.looked_after_section_20, Cohort.looked_after_16_17))
                self.on_case(DutyEnded, moment, duty=duty, reason=DutyEndReason.accommodated_by_childrens_services)
                duty = None
        stay = None
        if rng.random() < (0.35 if homeless else 0.12):
            kind = _pick(rng, {ProvisionType.emergency_assessment_bed: 14, ProvisionType.bed_and_breakfast: 5,
                               ProvisionType.nightstop: 2, ProvisionType.all_ages_hostel: 1})
            stay = self.start(self.later(moment, 0, 2), self.county.scheme(rng, kind, self.case.district),
                              PlacementRoute.emergency)
            moment = stay.since
            if kind is ProvisionType.bed_and_breakfast:
                nights = rng.randint(1, 12)
                self.add(BedAndBreakfastNightsRecorded, stay.since + timedelta(days=nights), stay.aggregate_id,
                         placement_id=stay.aggregate_id, scheme_id=stay.scheme.scheme_id,
                         first_night=stay.since.date(), nights=nights, cohort=self.cohort(stay.since))
                stay = self.move(stay, stay.since + timedelta(days=nights, hours=1),
                                 self.county.scheme(rng, ProvisionType.emergency_assessment_bed, self.case.district))
                moment = stay.since
        moment = self.later(moment, 1, 10)
        level = _pick(rng, {Level.low: 3, Level.medium: 5, Level.high: 2})
        self.on_case(AssessmentCompleted, moment,
                     support_needs=sorted(set(rng.sample(list(SupportNeed), rng.randint(1, 4)))), support_level=level,
                     risk=_pick(rng, {Level.low: 5, Level.medium: 4, Level.high: 1}),
                     priority_band=_pick(rng, {PriorityBand.a: 4, PriorityBand.b: 3, PriorityBand.c: 2,
                                               PriorityBand.d: 1}))
        if rng.random() < 0.12:
            self.raise_flag(self.later(moment, 0, 3))
        reported = stay is not None
        for deferred in range(3):
            moment = self.later(moment, 2, 12)
            decision = _pick(rng, {PanelDecision.allocate_service: 82, PanelDecision.defer: 7 if deferred < 2 else 0,
                                   PanelDecision.refer_elsewhere: 6, PanelDecision.return_home_with_support: 5})
            self.on_case(PanelDecisionMade, moment, decision=decision, panel_date=moment.date(),
                         emergency_placement_reported=reported)
            reported = False
            if decision is not PanelDecision.defer:
                break
        if decision is PanelDecision.refer_elsewhere:
            if stay is not None:
                self.end(stay, self.later(moment, 0, 3), planned=True,
                         destination=Destination.short_term_supported_housing)
            self.end_duty(duty, moment, DutyEndReason.other)
            return self.close(self.later(moment, 0, 5), ClosureReason.referred_elsewhere)
        if decision is PanelDecision.return_home_with_support:
            if stay is not None:
                self.end(stay, self.later(moment, 0, 3), planned=True, destination=Destination.previous_home)
            self.end_duty(duty, moment, DutyEndReason.accommodation_secured)
            if rng.random() < 0.6:
                moment = self.floating_support(self.later(moment, 1, 14), in_placement=None)
            return self.close(self.later(moment, 0, 5), ClosureReason.returned_home)
        moment = self.later(moment, 1, 21)
        self.end_duty(duty, moment - timedelta(minutes=1), DutyEndReason.accommodation_secured)
        scheme = self.supported_scheme(level, moment)
        if stay is not None:
            stay = self.move(stay, moment, scheme)
        else:
            stay = self.start(moment, scheme, self.route(moment))
        self.stays(stay)

    def mediation(self, moment: datetime) -> tuple[datetime, bool]:
        """A mediation attempt; whether the young person then settled (at home or with family or friends)."""
        rng = self.rng
        self.mediations += 1
        moment = self.later(moment, 1, 6)
        self.on_case(MediationAttempted, moment, attempt=self.mediations)
        moment = self.later(moment, 5, 20)
        outcome = _pick(rng, {MediationOutcome.returned_home: 35, MediationOutcome.stayed_with_wider_family_or_friends:
                              15, MediationOutcome.not_possible: 50})
        self.on_case(MediationConcluded, moment, attempt=self.mediations, outcome=outcome)
        if outcome is MediationOutcome.not_possible:
            return moment, False
        concluded = moment
        moment = self.later(moment, 0, 3)
        self.on_case(DutyEnded, moment, duty=Duty.prevention, reason=DutyEndReason.accommodation_secured)
        self.close(self.later(moment, 0, 5), ClosureReason.returned_home if outcome is MediationOutcome.returned_home
                   else ClosureReason.duty_ended)
        if outcome is MediationOutcome.returned_home:
            for months in (3, 6):
                followed = self.later(months_later(concluded, months) - timedelta(days=10), 0, 25)
                still_at_home = rng.random() < (0.72 if months == 3 else 0.85)
                self.on_case(ReturnHomeFollowedUp, followed, attempt=self.mediations, months_after=months,
                             still_at_home=still_at_home)
                if not still_at_home:
                    self.come_back(self.later(followed, 0, 20))
                    break
        elif rng.random() < 0.15:
            self.come_back(self.later(moment, 30, 300))
        return moment, True

    def route(self, moment: datetime) -> PlacementRoute:
        cohort = self.cohort(moment)
        if cohort is Cohort.care_leaver and self.rng.random() < 0.4:
            return PlacementRoute.pathway_plan
        if cohort is Cohort.looked_after_16_17 and self.rng.random() < 0.5:
            return PlacementRoute.children_services
        if self.case.district in self.county.lancashire and self.rng.random() < 0.3:
            return PlacementRoute.placement_team
        return PlacementRoute.panel

    def supported_scheme(self, level: Level, moment: datetime) -> Scheme:
        rng, district = self.rng, self.case.district
        if Flag.teenage_parent in self.flags and rng.random() < 0.7:
            kind = ProvisionType.teenage_parent_service
        elif self.cohort(moment) is Cohort.looked_after_16_17 and rng.random() < 0.6:
            kind = rng.choice([ProvisionType.regulated_childrens_placement, ProvisionType.supported_lodgings])
        elif level is Level.high and rng.random() < 0.6:
            kind = ProvisionType.core_24_7
        else:
            kind = _pick(rng, {ProvisionType.foyer: 9, ProvisionType.supported_lodgings: 3,
                               ProvisionType.cluster_unit: 3, ProvisionType.visiting_support: 2,
                               ProvisionType.core_24_7: 1})
            if kind is ProvisionType.foyer:
                local = [one for one in self.county.schemes
                         if one.district == district and one.pathway_stage is PathwayStage.progression]
                return rng.choice(local) if local else self.county.scheme(rng, ProvisionType.cluster_unit, district)
        return self.county.scheme(rng, kind, district)

    def stays(self, stay: Stay) -> None:
        """A placement from its supported scheme on: moves, a breakdown (and perhaps another placement), or an end;
        then the case's closure and perhaps a return."""
        rng = self.rng
        moves = 0
        while stay.since < END:
            stage = stay.scheme.pathway_stage
            length = max(14.0, rng.lognormvariate(6.0 if stage is PathwayStage.move_on else 6.3, 0.5))
            if rng.random() < 0.15 and not stay.floating:
                started = self.later(stay.since, 7, length / 2)
                self.floating_support(started, in_placement=stay, until=stay.since + timedelta(days=length))
            outcome = rng.random()
            if outcome < 0.2:
                broke = self.later(stay.since, 7, length)
                reason = _pick(rng, BREAKDOWNS)
                destination = reason.usual_destination
                if destination is Destination.not_known and rng.random() < 0.6:
                    destination = _pick(rng, UNPLANNED_DESTINATIONS)
                self.costs(stay, broke)
                self.add(PlacementBrokeDown, broke, stay.aggregate_id, placement_id=stay.aggregate_id,
                         scheme_id=stay.scheme.scheme_id, reason=reason, destination=destination,
                         days_in_scheme=(broke.date() - stay.since.date()).days,
                         days_in_placement=(broke.date() - stay.placed.date()).days)
                self.letting(UnitReleased, stay.scheme, stay.aggregate_id, broke.date())
                after = rng.random()
                if after < 0.5:
                    again = self.later(broke, 1, 30)
                    if rng.random() < 0.4:
                        bed = self.county.scheme(rng, ProvisionType.emergency_assessment_bed, self.case.district)
                        stay = self.start(again, bed, PlacementRoute.emergency)
                        again = self.later(again, 7, 40)
                        self.on_case(PanelDecisionMade, again, decision=PanelDecision.allocate_service,
                                     panel_date=again.date(), emergency_placement_reported=True)
                        stay = self.move(stay, self.later(again, 1, 14),
                                         self.supported_scheme(_pick(rng, {Level.medium: 1, Level.high: 1}), again))
                    else:
                        self.on_case(PanelDecisionMade, again, decision=PanelDecision.allocate_service,
                                     panel_date=again.date(), emergency_placement_reported=False)
                        again = self.later(again, 1, 14)
                        stay = self.start(again, self.supported_scheme(Level.medium, again), self.route(again))
                    moves = 0
                    continue
                if after < 0.75:
                    closed = self.close(self.later(broke, 7, 60), ClosureReason.disengaged)
                    if rng.random() < 0.35:
                        self.come_back(self.later(closed, 20, 300))
                return
            if outcome < 0.32 and moves < 3:
                moved = self.later(stay.since, 14, length)
                kind = rng.choice([ProvisionType.core_24_7, ProvisionType.cluster_unit,
                                   ProvisionType.supported_lodgings, ProvisionType.foyer])
                scheme = (self.supported_scheme(Level.medium, moved) if kind is ProvisionType.foyer
                          else self.county.scheme(rng, kind, self.case.district))
                if scheme.scheme_id != stay.scheme.scheme_id:
                    stay = self.move(stay, moved, scheme, reason=_pick(rng, MOVE_REASONS))
                    moves += 1
                    continue
            ending = stay.since + timedelta(days=length)
            ending = self.later(ending, 0, 1)
            if outcome < 0.62 and stage is not PathwayStage.move_on and moves < 3:
                kind = (ProvisionType.private_rented_with_support if rng.random() < 0.65
                        else ProvisionType.social_tenancy)
                stay = self.move(stay, ending, self.county.scheme(rng, kind, self.case.district))
                moves += 1
                continue
            planned = outcome < 0.93
            self.end(stay, ending, planned=planned,
                     destination=_pick(rng, PLANNED_DESTINATIONS if planned else UNPLANNED_DESTINATIONS))
            if planned and rng.random() < 0.4:
                ending = self.floating_support(self.later(ending, 1, 10), in_placement=None)
            closed = self.close(self.later(ending, 1, 14),
                                ClosureReason.moved_on if planned else ClosureReason.disengaged)
            if rng.random() < (0.2 if planned else 0.35):
                self.come_back(self.later(closed, 30, 400))
            return

    # -- steps ---------------------------------------------------------------------------------------------------------

    def start(self, moment: datetime, scheme: Scheme, route: PlacementRoute) -> Stay:
        self.placements += 1
        placement_id = _uuid(self.rng)
        stay_id = self.add(PlacementStarted, moment, placement_id, **scheme.facts(), placement_id=placement_id,
                           placement_number=self.placements, cohort=self.cohort(moment), route=route)
        self.letting(UnitAllocated, scheme, placement_id, moment.date())
        return Stay(stay_id, placement_id, scheme, moment, moment)

    def move(self, stay: Stay, moment: datetime, scheme: Scheme, reason: MoveReason | None = None) -> Stay:
        self.costs(stay, moment)
        stay_id = self.add(PlacementMoved, moment, stay.aggregate_id, **scheme.facts(), placement_id=stay.aggregate_id,
                           from_scheme_id=stay.scheme.scheme_id, direction=scheme.direction_from(stay.scheme),
                           planned=reason is None, reason=reason,
                           days_in_previous_scheme=(moment.date() - stay.since.date()).days)
        self.letting(UnitReleased, stay.scheme, stay.aggregate_id, moment.date())
        self.letting(UnitAllocated, scheme, stay.aggregate_id, moment.date())
        return Stay(stay_id, stay.aggregate_id, scheme, stay.placed, moment)

    def end(self, stay: Stay, moment: datetime, planned: bool, destination: Destination) -> None:
        self.costs(stay, moment)
        self.add(PlacementEnded, moment, stay.aggregate_id, placement_id=stay.aggregate_id,
                 scheme_id=stay.scheme.scheme_id, planned=planned, destination=destination,
                 days_in_scheme=(moment.date() - stay.since.date()).days,
                 days_in_placement=(moment.date() - stay.placed.date()).days)
        self.letting(UnitReleased, stay.scheme, stay.aggregate_id, moment.date())

    def floating_support(self, moment: datetime, in_placement: Stay | None, until: datetime | None = None) -> datetime:
        """An episode of floating support from `moment` (in a placement, ending by `until`); when it ended."""
        rng = self.rng
        scheme = self.county.scheme(rng, ProvisionType.floating_support, self.case.district)
        self.episodes += 1
        episode_id = _uuid(rng)
        stay_id = self.add(FloatingSupportStarted, moment, episode_id, episode_id=episode_id,
                           episode_number=self.episodes, scheme_id=scheme.scheme_id, provider_id=scheme.provider_id,
                           scheme_district=scheme.district, support_level=scheme.support_level,
                           support_hours_per_week=scheme.hours, cohort=self.cohort(moment),
                           in_placement_id=in_placement.aggregate_id if in_placement else None)
        self.letting(UnitAllocated, scheme, episode_id, moment.date())
        ended = self.later(moment, 40, 220)
        if until is not None:
            ended = max(min(ended, until - timedelta(days=1)), moment + timedelta(hours=1))
        self.costs(Stay(stay_id, episode_id, scheme, moment, moment, floating=True), ended)
        planned = rng.random() < 0.8
        days = (ended.date() - moment.date()).days
        self.add(FloatingSupportEnded, ended, episode_id, episode_id=episode_id, scheme_id=scheme.scheme_id,
                 planned=planned, destination=Destination.remained_in_own_home if planned else Destination.not_known,
                 days_supported=days, hours_delivered=round(scheme.hours * days / 7, 1))
        self.letting(UnitReleased, scheme, episode_id, ended.date())
        return ended

    def costs(self, stay: Stay, ended: datetime) -> None:
        """The stay's cost in each calendar month of its nights in its scheme, published once the month is over."""
        first, last = stay.since.date(), ended.date()  # nights first .. last - 1
        month = first.replace(day=1)
        while month < last and month < TODAY:
            following = (month + timedelta(days=32)).replace(day=1)
            days = (min(following, last) - max(month, first)).days
            accrued = datetime.combine(following, datetime.min.time(), tzinfo=UTC)
            published = accrued + timedelta(minutes=self.rng.randint(1, 59))  # the hourly cost run
            if days > 0:
                costed = uuid.uuid5(stay.stay_id, month.isoformat())
                facts = {"stay_id": stay.stay_id, "placement_id": None if stay.floating else stay.aggregate_id,
                         "scheme_id": stay.scheme.scheme_id, "contract_id": stay.scheme.contract_id, "month": month,
                         "days": days}
                self.add(CostAccrued, accrued, costed, recorded=published,
                         cost=stay.scheme.cost(days, uplift(month, published)), **facts)
                for effective, agreed in UPLIFTS:
                    if effective <= month and published < agreed:
                        again = agreed + timedelta(minutes=self.rng.randint(1, 59))
                        self.add(CostAccrued, accrued, costed, recorded=again,
                                 cost=stay.scheme.cost(days, uplift(month, again)), **facts)
            month = following

    def end_duty(self, duty: Duty | None, moment: datetime, reason: DutyEndReason) -> None:
        if duty is not None:
            self.on_case(DutyEnded, moment, duty=duty, reason=reason)

    def close(self, moment: datetime, reason: ClosureReason) -> datetime:
        self.on_case(CaseClosed, moment, reason=reason)
        return moment

    def raise_flag(self, moment: datetime) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            self.on_case(RestrictedFlagRaised, moment, flag_id=_uuid(rng))
            return
        flag = rng.choice([Flag.teenage_parent, Flag.youth_justice, Flag.neet, Flag.mental_health,
                           Flag.substance_misuse])
        if flag not in self.flags:
            self.flags.add(flag)
            self.on_case(FlagRaised, moment, flag=flag, dependants=1 if flag is Flag.teenage_parent else None)

    def come_back(self, moment: datetime) -> None:
        """The young person presents again: their case reopened, or a new case (perhaps in another district) linked
        to them."""
        if self.returns >= RETURNS or moment >= END:
            return
        self.returns += 1
        rng = self.rng
        if rng.random() < 0.6:
            return self.present(moment, reopened=True)
        person = self.case.person_at(moment)
        district = self.case.district if rng.random() < 0.7 else self.county.district(rng)
        self.case, self.mediations = Case(_uuid(rng), district, _uuid(rng)), 0
        self.add(ReferralMade, moment, self.case.case_id, **self.referral_facts(moment))
        linked = self.later(moment, 0, 10)
        self.on_case(PersonLinked, linked, previous_person_ref=self.case.own_ref,
                     basis=_pick(rng, {LinkBasis.matching_details: 3, LinkBasis.case_worker_decision: 1}))
        self.case.linked_to, self.case.linked_at = person, linked
        self.pathway(moment, first=True)

    def referral_facts(self, moment: datetime) -> dict:
        legal, cohort, age = self.status(moment)
        return {"gateway": _pick(self.rng, GATEWAYS[cohort]), "cohort": cohort, "legal_status": legal,
                "age_at_event": age, "flags": sorted(self.flags),
                "presenting_reason": PresentingReason.relationship_breakdown}

    # -- turning 18, recording order -----------------------------------------------------------------------------------

    def turning_18(self) -> None:
        """AgeReached (18) on each case open on the day the young person is counted as 18, if its last age fact was
        under 18."""
        moment = self.counted_18
        if not START <= moment < END:
            return
        for case in {id(spec[5]): spec[5] for spec in self.specs if spec[5] is not None}.values():
            facts = sorted((spec for spec in self.specs if spec[5] is case and spec[1] < moment
                            and spec[2] in (ReferralMade, CaseReopened, LegalStatusChanged, CaseClosed)),
                           key=lambda spec: spec[1])
            if not facts or facts[-1][2] is CaseClosed:
                continue
            last_age = next(spec[6]["age_at_event"] for spec in reversed(facts) if spec[2] is not CaseClosed)
            if last_age < 18:
                _, legal, cohort = [entry for entry in self.statuses if entry[0] <= moment][-1]
                legal = STATUS_AT_18.get(legal, legal)
                self.add(AgeReached, moment, case.case_id, case, age=18, legal_status=legal,
                         cohort=COHORT_AT_18.get(legal, cohort))

    def recorded_in_order(self) -> list[list]:
        """The specs recorded before END, in the order recorded: each aggregate's events recorded in the order they
        happened (a late one holds back those after it), a stay's costs after the event that began it; each with its
        aggregate version."""
        self.turning_18()
        recorded: dict[UUID, datetime] = {}
        for spec in sorted(self.specs, key=lambda spec: spec[1]):
            aggregate = spec[3]
            after = recorded.get(spec[6]["stay_id"]) if spec[2] is CostAccrued else recorded.get(aggregate)
            if after is not None and spec[0] <= after:
                spec[0] = after + timedelta(seconds=1)
            recorded[aggregate] = recorded[spec[4]] = spec[0]
        specs = sorted((spec for spec in self.specs if spec[0] < END and spec[1] < END), key=lambda spec: spec[0])
        versions: Counter[UUID] = Counter()
        for spec in specs:
            if spec[2] not in LETTINGS:
                versions[spec[3]] += 1
                spec[7] = versions[spec[3]]
        return specs


# -- rebuilding the journeys projections ------------------------------------------------------------------------------


JOURNEY_PROJECTIONS = (JourneyProjection, CasesByDistrict, StatusPeriods)
"""The journeys service's projections (services/journeys/bootstrap.py)."""
BATCH = 2_000


async def rebuild_journeys(pool: asyncpg.Pool, schema: str, events: Iterable[Recorded], batch_size: int = BATCH,
                           seconds: Counter[str] | None = None) -> int:
    """Every journeys projection rebuilt from the first event in `schema` (their tables made afresh), the events
    applied as the projection runners apply them: batch by batch, each projection's share of a batch (the events it
    follows) in one transaction of its own that also records its positions, the projections side by side; then
    every young person's journey summary made (what the background loop does after a rebuild). The number of events
    read; `seconds` adds up the time each projection's transactions took, and the summaries'."""
    seconds = Counter() if seconds is None else seconds
    projections = [projection() for projection in JOURNEY_PROJECTIONS]
    async with pool.acquire() as conn:
        for statement in tracking_ddl(schema):
            await conn.execute(statement)
        for projection in projections:
            await conn.execute(f"DELETE FROM {schema}.projection_position WHERE projection = $1", projection.name)
            await prepare_projection(conn, schema, projection)  # untracked: its tables dropped and made again
    read = 0
    for batch in batched(events, batch_size):
        read += len(batch)
        await asyncio.gather(*(_apply(pool, schema, projection, batch, seconds) for projection in projections))
    started = time.perf_counter()
    async with pool.acquire() as conn:  # the journey summaries the pathway map reads: part of the rebuild
        await summarize_waiting(conn, schema)
    seconds[SUMMARIES] += time.perf_counter() - started
    return read


SUMMARIES = "journey summaries (after the events)"


def batched(events: Iterable[Recorded], size: int) -> Iterator[list[Recorded]]:
    iterator = iter(events)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


async def _apply(pool: asyncpg.Pool, schema: str, projection: Projection, batch: Sequence[Recorded],
                 seconds: Counter[str]) -> None:
    started = time.perf_counter()
    followed = [recorded for recorded in batch
                if recorded.event.event_type in projection.follows.get(recorded.event.service, ())]
    if not followed:
        return
    last = {recorded.event.service: recorded for recorded in batch if recorded.event.service in projection.follows}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        await projection.apply(conn, followed)
        await conn.executemany(
            f"UPDATE {schema}.projection_position SET position = $3, source_position = greatest(source_position, $4),"
            " updated_at = now() WHERE projection = $1 AND source = $2",
            [(projection.name, source, recorded.sequence, recorded.source_position)
             for source, recorded in last.items()])
    seconds[projection.name] += time.perf_counter() - started


class Timed(Iterator[Recorded]):
    """Events counted by type, and the time spent making them (left out of the rebuild's rate)."""

    def __init__(self, events: Iterator[Recorded]):
        self.events = events
        self.seconds = 0.0
        self.types: Counter[str] = Counter()

    def __next__(self) -> Recorded:
        started = time.perf_counter()
        try:
            recorded = next(self.events)
        finally:
            self.seconds += time.perf_counter() - started
        self.types[recorded.event.event_type] += 1
        return recorded


# -- the journeys bench ------------------------------------------------------------------------------------------------


SCHEMA = "bench_journeys"
SEED = 14
CALLS = 200
MAP_BUDGET_SECONDS = 30.0
MAP_LEAST_CALLS = 3


def map_filters(busiest_district: str) -> dict[str, Chosen]:
    """The pathway map filters timed: none, and one of each kind."""
    return {
        "none": Chosen(),
        f"district {busiest_district}": Chosen(district=busiest_district),
        "cohort care_leaver": Chosen(cohort=Cohort.care_leaver.value),
        "gateway district_housing_options": Chosen(gateway=Gateway.district_housing_options.value),
        "flag youth_justice": Chosen(flag=Flag.youth_justice.value),
        "referred in 2024": Chosen(referred_from=date(2024, 1, 1), referred_to=date(2024, 12, 31)),
        "as_of 2024-06-30": Chosen(as_of=date(2024, 6, 30)),
    }


@dataclass(frozen=True)
class Timing:
    """Milliseconds of each call of a read."""

    calls: list[float]

    @property
    def p50(self) -> float:
        return _percentile(self.calls, 50)

    @property
    def p95(self) -> float:
        return _percentile(self.calls, 95)

    def row(self, read: str) -> dict[str, Any]:
        return {"read": read, "calls": len(self.calls), "p50 ms": round(self.p50, 1), "p95 ms": round(self.p95, 1),
                "max ms": round(max(self.calls), 1)}


def _percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def timed(call: Callable[[], Awaitable[Any]], calls: int, budget_seconds: float | None = None,
                least: int = 1) -> Timing:
    """Milliseconds of `calls` calls one after another; with a budget, no more once it is spent (at least `least`)."""
    spent, took = time.perf_counter(), []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
        if budget_seconds is not None and len(took) >= least and time.perf_counter() - spent > budget_seconds:
            break
    return Timing(took)


async def copy_event_rows(pool: asyncpg.Pool, count: int) -> Reading:
    """The raw baseline of a rebuild: COPY `count` event-shaped rows into a table with the store's keys (as
    bench.postgres_copy does), 100,000 a COPY; only the COPYs timed."""
    from shared.bench import Reading, an_event_body

    body = an_event_body()
    async with pool.acquire() as conn:
        await conn.execute("DROP SCHEMA IF EXISTS bench_raw_journeys CASCADE")
        await conn.execute("CREATE SCHEMA bench_raw_journeys")
        await conn.execute("CREATE TABLE bench_raw_journeys.events (notification_id bigserial PRIMARY KEY,"
                           " originator_id uuid NOT NULL, originator_version int NOT NULL, topic text NOT NULL,"
                           " state bytea NOT NULL, UNIQUE (originator_id, originator_version))")
        seconds = 0.0
        for start in range(0, count, 100_000):
            rows = [(uuid.uuid4(), 1, "ReferralMade", body) for _ in range(min(100_000, count - start))]
            started = time.perf_counter()
            await conn.copy_records_to_table("events", schema_name="bench_raw_journeys", records=rows,
                                             columns=["originator_id", "originator_version", "topic", "state"])
            seconds += time.perf_counter() - started
        await conn.execute("DROP SCHEMA bench_raw_journeys CASCADE")
    return Reading(f"PostgreSQL COPY of {count:,} event rows", count / max(seconds, 1e-9), "rows/s")


async def key_lookups(pool: asyncpg.Pool, schema: str, case_ids: Sequence[UUID]) -> Reading:
    """The raw baseline of a read: p95 of a primary-key SELECT of one case row, a round trip on the same pool."""
    from shared.bench import Reading

    async def one(case_id: UUID) -> None:
        async with pool.acquire() as conn:
            await conn.fetchrow(f"SELECT * FROM {schema}.case_journeys WHERE case_id = $1", case_id)

    ids = iter(case_ids)
    timing = await timed(lambda: one(next(ids)), len(case_ids))
    return Reading("PostgreSQL primary-key SELECT p95", timing.p95, "ms")


async def journeys_figures(bench: Bench) -> dict[str, Figure]:
    """`casetrack bench --young-people N`: a synthetic county of N young people rebuilt into every journeys
    projection, then a young person's journey and the pathway map with each filter read from it."""
    from shared.bench import Figure

    young_people, seed = bench.size.young_people, bench.size.seed
    rng = random.Random(seed)
    pool = await asyncpg.create_pool(bench.postgres.url, min_size=1, max_size=len(JOURNEY_PROJECTIONS) + 1)
    try:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            await conn.execute(f"CREATE SCHEMA {SCHEMA}")
        events = Timed(synthetic_county(young_people, seed))
        bench.say(f"journeys: rebuilding every journeys projection from a county of {young_people:,} young people")
        started, seconds = time.perf_counter(), Counter()
        count = await rebuild_journeys(pool, SCHEMA, events, seconds=seconds)
        wall = time.perf_counter() - started
        applied = count / max(wall - events.seconds, 1e-9)
        bench.details["journeys: events generated"] = [
            {"events": kind, "count": n, "per young person": round(n / max(young_people, 1), 2)}
            for kind, n in [("all", count), *events.types.most_common()]]
        followed = Counter()
        for projection in JOURNEY_PROJECTIONS:
            followed[projection.name] = sum(n for kind, n in events.types.items()
                                            if any(kind in kinds for kinds in projection.follows.values()))
        bench.details["journeys: rebuild by projection"] = [
            {"projection": name, "events it follows": followed[name], "seconds in its transactions": round(took, 1),
             "its events/s": round(followed[name] / max(took, 1e-9))} for name, took in seconds.most_common()]
        bench.say(f"journeys: {count:,} events in {wall:,.0f} s, {events.seconds:,.0f} s of it making them; "
                  "COPY baseline")
        bench.readings["postgres_copy_journeys"] = await copy_event_rows(pool, count)
        async with pool.acquire() as conn:
            await conn.execute(f"ANALYZE {SCHEMA}.case_journeys")
            cases = await conn.fetch(f"SELECT case_id, person_ref, district FROM {SCHEMA}.case_journeys"
                                     " ORDER BY case_id")
        busiest = Counter(case["district"] for case in cases).most_common(1)[0][0]
        people = sorted({case["person_ref"] for case in cases})
        bench.readings["postgres_key_lookup"] = await key_lookups(
            pool, SCHEMA, rng.sample([case["case_id"] for case in cases], min(CALLS, len(cases))))
        lookup = bench.readings["postgres_key_lookup"]
        figures = {"journeys_rebuild": Figure(
            "journeys rebuild", applied, "events/s", "postgres_copy_journeys", ">= 50,000",
            note=f"{count:,} events of {young_people:,} young people into {len(JOURNEY_PROJECTIONS)} projections "
                 f"in batches of {BATCH:,}: {wall:,.1f} s, less {events.seconds:,.1f} s making the events "
                 f"({count / max(wall, 1e-9):,.0f} events/s with them)")}
        reads: list[dict[str, Any]] = []

        async def journey(person_ref: UUID) -> None:
            async with pool.acquire() as conn:
                if await young_person_journey(conn, person_ref, today=TODAY, schema=SCHEMA) is None:
                    raise RuntimeError(f"no journey of {person_ref}")

        bench.say(f"journeys: {CALLS} young people's journeys")
        chosen = iter(rng.sample(people, min(CALLS, len(people))) * 2)
        await timed(lambda: journey(next(chosen)), 5)  # warm up
        timing = await timed(lambda: journey(next(chosen)), min(CALLS, len(people)))
        reads.append(timing.row("young person's journey"))
        figures["journey_p95"] = Figure("young person's journey p95", timing.p95, "ms", "postgres_key_lookup",
                                        "p95 < 20", note=f"p50 {timing.p50:,.1f} ms over {len(timing.calls)} calls; "
                                                         f"key lookup p95 {lookup.value:,.2f} ms")
        for name, filters in map_filters(busiest).items():
            bench.say(f"journeys: pathway map, {name} (at most {MAP_BUDGET_SECONDS:.0f} s, {MAP_LEAST_CALLS} calls at"
                      " least)")

            async def pathway_map(filters: Chosen = filters) -> None:
                async with pool.acquire() as conn:
                    await pathway_map_of(conn, filters, threshold=5, today=TODAY, schema=SCHEMA, pool=pool)

            timing = await timed(pathway_map, CALLS, MAP_BUDGET_SECONDS, MAP_LEAST_CALLS)
            reads.append(timing.row(f"pathway map, {name}"))
            figures[f"pathway_map_{_key(name)}"] = Figure(
                f"pathway map p95, {name}", timing.p95, "ms", "postgres_key_lookup", "p95 < 300",
                note=f"p50 {timing.p50:,.1f} ms over {len(timing.calls)} calls (a {MAP_BUDGET_SECONDS:.0f} s budget)")
        bench.details["journeys: reads"] = reads
        return figures
    finally:
        await pool.close()


def _key(name: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in name).split())
