"""A young person's case, event by event (referral, placement, floating support and cost events, each with the envelope
it would carry), and the hand-written set of journeys the pathway tests share: a step down to a planned move-on, a
breakdown, a return (re-presentation), a B&B stay, floating support and a person linked across two districts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from services.journeys.pathways import Journey, Step
from services.journeys.projections.journeys import ENVELOPE
from shared.contracts import Event
from shared.contracts.finance import CostAccrued, CostPart
from shared.contracts.placement import (
    BedAndBreakfastNightsRecorded,
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
from shared.contracts.referral import (
    STATUS_ASSUMED_FOR_COHORT,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    FlagRaised,
    MediationAttempted,
    MediationConcluded,
    PanelDecisionMade,
    PersonLinked,
    ReferralMade,
    RestrictedFlagRaised,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Flag,
    Gateway,
    Level,
    LinkBasis,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
)

TODAY = date(2026, 1, 1)


def on(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class AScheme:
    provision_type: ProvisionType
    pathway_stage: PathwayStage
    support_level: Level = Level.medium
    district: str = "maidstone"
    scheme_id: UUID = field(default_factory=uuid4)
    provider_id: UUID = field(default_factory=uuid4)

    def facts(self) -> dict:
        return {"scheme_id": self.scheme_id, "provider_id": self.provider_id, "provision_type": self.provision_type,
                "pathway_stage": self.pathway_stage, "support_level": self.support_level,
                "scheme_district": self.district}


EMERGENCY_BED = AScheme(ProvisionType.emergency_assessment_bed, PathwayStage.assessment)
BED_AND_BREAKFAST = AScheme(ProvisionType.bed_and_breakfast, PathwayStage.assessment, district="dover")
FOYER = AScheme(ProvisionType.foyer, PathwayStage.progression)
CORE = AScheme(ProvisionType.core_24_7, PathwayStage.specialist, Level.high)
LODGINGS = AScheme(ProvisionType.supported_lodgings, PathwayStage.progression, Level.low, district="dover")
PRIVATE_RENTED = AScheme(ProvisionType.private_rented_with_support, PathwayStage.move_on, Level.low)
FLOATING = AScheme(ProvisionType.floating_support, PathwayStage.progression, Level.low)


@dataclass
class ACase:
    """One case's events in order. Each is recorded the evening of the day it happened unless `recorded` says."""

    district: str = "maidstone"
    case_id: UUID = field(default_factory=uuid4)
    person_ref: UUID = field(default_factory=uuid4)
    events: list[Event] = field(default_factory=list)
    versions: dict[UUID, int] = field(default_factory=dict)
    placement_id: UUID | None = None
    placements: int = 0
    scheme: AScheme | None = None
    scheme_since: date | None = None
    placed_on: date | None = None
    episode_id: UUID | None = None
    episode_since: date | None = None

    def _add(self, event_class: type[Event], aggregate_id: UUID, day: date, recorded: date | None = None,
             **facts) -> Event:
        self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        event = event_class(aggregate_id=aggregate_id, aggregate_version=self.versions[aggregate_id],
                            case_id=self.case_id, person_ref=self.person_ref, district=self.district,
                            occurred_at=on(day), recorded_at=on(recorded or day, 18), **facts)
        self.events.append(event)
        return event

    def _case(self, event_class: type[Event], day: date, recorded: date | None = None, **facts) -> Event:
        return self._add(event_class, self.case_id, day, recorded, **facts)

    def referred(self, day: date, cohort: Cohort = Cohort.homeless_16_17, gateway: Gateway = Gateway.hub) -> Event:
        return self._case(ReferralMade, day, gateway=gateway, cohort=cohort, age_at_event=17,
                          legal_status=STATUS_ASSUMED_FOR_COHORT[cohort],
                          presenting_reason=PresentingReason.parental_eviction)

    def reopened(self, day: date) -> Event:
        return self._case(CaseReopened, day, presenting_reason=PresentingReason.loss_of_tenancy,
                          cohort=Cohort.homeless_16_17, legal_status=STATUS_ASSUMED_FOR_COHORT["homeless_16_17"],
                          age_at_event=17)

    def mediation(self, day: date, concluded: date, outcome: MediationOutcome) -> Event:
        self._case(MediationAttempted, day, attempt=1)
        return self._case(MediationConcluded, concluded, attempt=1, outcome=outcome)

    def assessed(self, day: date) -> Event:
        return self._case(AssessmentCompleted, day, support_needs=[], support_level=Level.medium, risk=Level.low,
                          priority_band=PriorityBand.a)

    def panel(self, day: date, decision: PanelDecision = PanelDecision.allocate_service) -> Event:
        return self._case(PanelDecisionMade, day, decision=decision, panel_date=day)

    def closed(self, day: date) -> Event:
        return self._case(CaseClosed, day, reason=ClosureReason.moved_on)

    def flagged(self, day: date, flag: Flag) -> Event:
        return self._case(FlagRaised, day, flag=flag)

    def restricted_flag(self, day: date) -> Event:
        return self._case(RestrictedFlagRaised, day, flag_id=uuid4())

    def linked(self, day: date, to: UUID, recorded: date | None = None) -> Event:
        previous, self.person_ref = self.person_ref, to
        return self._case(PersonLinked, day, recorded, previous_person_ref=previous,
                          basis=LinkBasis.case_worker_decision)

    def placed(self, day: date, scheme: AScheme, route: PlacementRoute = PlacementRoute.panel) -> Event:
        self.placement_id, self.placements = uuid4(), self.placements + 1
        self.scheme, self.scheme_since, self.placed_on = scheme, day, day
        return self._add(PlacementStarted, self.placement_id, day, **scheme.facts(), placement_id=self.placement_id,
                         placement_number=self.placements, cohort=Cohort.homeless_16_17, route=route)

    def moved(self, day: date, scheme: AScheme, direction: MoveDirection = MoveDirection.step_down) -> Event:
        leaving, since, self.scheme, self.scheme_since = self.scheme, self.scheme_since, scheme, day
        return self._add(PlacementMoved, self.placement_id, day, **scheme.facts(), placement_id=self.placement_id,
                         from_scheme_id=leaving.scheme_id, direction=direction, planned=True,
                         days_in_previous_scheme=(day - since).days)

    def _days(self, day: date) -> dict:
        return {"days_in_scheme": (day - self.scheme_since).days, "days_in_placement": (day - self.placed_on).days}

    def ended(self, day: date, destination: Destination, *, planned: bool = True,
              recorded: date | None = None) -> Event:
        return self._add(PlacementEnded, self.placement_id, day, recorded, placement_id=self.placement_id,
                         scheme_id=self.scheme.scheme_id, planned=planned, destination=destination, **self._days(day))

    def broke_down(self, day: date, reason: BreakdownReason = BreakdownReason.young_person_left) -> Event:
        return self._add(PlacementBrokeDown, self.placement_id, day, placement_id=self.placement_id,
                         scheme_id=self.scheme.scheme_id, reason=reason, destination=reason.usual_destination,
                         **self._days(day))

    def bed_and_breakfast_nights(self, day: date, nights: int) -> Event:
        return self._add(BedAndBreakfastNightsRecorded, self.placement_id, day, placement_id=self.placement_id,
                         scheme_id=self.scheme.scheme_id, first_night=day, nights=nights,
                         cohort=Cohort.homeless_16_17)

    def floating_support(self, day: date, scheme: AScheme = FLOATING) -> Event:
        self.episode_id, self.episode_since = uuid4(), day
        return self._add(FloatingSupportStarted, self.episode_id, day, episode_id=self.episode_id, episode_number=1,
                         scheme_id=scheme.scheme_id, provider_id=scheme.provider_id, scheme_district=scheme.district,
                         support_level=Level.low, support_hours_per_week=3, cohort=Cohort.care_leaver)

    def floating_support_ended(self, day: date, *, planned: bool = True) -> Event:
        return self._add(FloatingSupportEnded, self.episode_id, day, episode_id=self.episode_id,
                         scheme_id=FLOATING.scheme_id, planned=planned, destination=Destination.remained_in_own_home,
                         days_supported=(day - self.episode_since).days)


def cost(stay: Event, month: date, pence: int, days: int = 30) -> CostAccrued:
    """What the stay `stay` began cost in a month (all of it rent, for simple sums)."""
    return CostAccrued(aggregate_id=stay.event_id, aggregate_version=1, case_id=stay.case_id,
                       person_ref=stay.person_ref, district=stay.district, occurred_at=on(month),
                       recorded_at=on(month, 18), stay_id=stay.event_id, scheme_id=stay.scheme_id, contract_id=None,
                       month=month, days=days, cost=CostPart(rent=pence))


def step(event: Event, cost_pence: int | None = None) -> Step:
    """The journey step an event adds (its facts as `journey_steps` keeps them)."""
    return Step(event_type=event.event_type, occurred_at=event.occurred_at,
                facts=json.loads(event.model_dump_json(exclude=ENVELOPE)), case_id=str(event.case_id),
                event_id=str(event.event_id), cost_pence=cost_pence, district=event.district)


@dataclass
class AYoungPerson:
    """A young person of the hand-written set: their cases, the costs of their stays, and what a test expects."""

    name: str
    cases: list[ACase]
    costs: list[CostAccrued]
    variant: tuple[str, ...]
    days: int
    cost_pence: int

    @property
    def person_ref(self) -> UUID:
        return self.cases[-1].person_ref

    @property
    def events(self) -> list[Event]:
        return [event for case in self.cases for event in case.events]

    def journey(self) -> Journey:
        pence: dict[UUID, int] = {}
        for accrued in self.costs:
            pence[accrued.stay_id] = pence.get(accrued.stay_id, 0) + accrued.cost.whole
        return Journey(str(self.person_ref), tuple(step(event, pence.get(event.event_id)) for event in self.events))


def d(month: int, day: int, year: int = 2025) -> date:
    return date(year, month, day)


def a_step_down() -> AYoungPerson:
    """Emergency bed, foyer, a step down to private rented with support, a planned move-on; the case closed."""
    case = ACase()
    case.referred(d(1, 1))
    case.assessed(d(1, 3))
    case.panel(d(1, 5))
    bed = case.placed(d(1, 6), EMERGENCY_BED, PlacementRoute.emergency)
    foyer = case.moved(d(2, 5), FOYER, MoveDirection.lateral)
    rented = case.moved(d(6, 1), PRIVATE_RENTED)
    case.ended(d(9, 28), Destination.private_rented)
    case.closed(d(9, 30))
    return AYoungPerson("step down", [case], [cost(bed, d(1, 1), 100_000), cost(foyer, d(2, 1), 50_000),
                                              cost(foyer, d(3, 1), 50_000), cost(rented, d(6, 1), 30_000)],
                        ("presentation", "assessment", "panel", "emergency:emergency_assessment_bed", "supported:foyer",
                         "move_on:private_rented_with_support", "move_on:planned"), 272, 230_000)


def a_breakdown() -> AYoungPerson:
    """A foyer placement breaks down; a second placement, in a core 24/7 scheme, is still open today."""
    case = ACase()
    case.referred(d(2, 1))
    case.assessed(d(2, 3))
    case.panel(d(2, 5))
    foyer = case.placed(d(2, 10), FOYER)
    case.broke_down(d(4, 10))
    core = case.placed(d(4, 20), CORE)
    return AYoungPerson("breakdown", [case], [cost(foyer, d(3, 1), 120_000), cost(core, d(5, 1), 100_000),
                                              cost(core, d(10, 1), 200_000)],
                        ("presentation", "assessment", "panel", "supported:foyer", "supported:core_24_7"), 334, 420_000)


def a_return() -> AYoungPerson:
    """Mediation: home; the case closed; back three months later (re-presentation), an emergency bed, moved on."""
    case = ACase()
    case.referred(d(3, 1))
    case.mediation(d(3, 2), d(3, 9), MediationOutcome.returned_home)
    case.closed(d(3, 10))
    case.reopened(d(6, 1))
    case.assessed(d(6, 2))
    case.panel(d(6, 3))
    bed = case.placed(d(6, 4), EMERGENCY_BED)
    case.ended(d(7, 4), Destination.social_rented)
    case.closed(d(7, 5))
    return AYoungPerson("return", [case], [cost(bed, d(6, 1), 90_000)],
                        ("presentation", "prevention", "re_presentation", "assessment", "panel",
                         "emergency:emergency_assessment_bed", "move_on:planned"), 126, 90_000)


def a_bed_and_breakfast_stay(end_recorded: date | None = None) -> AYoungPerson:
    """Five nights of B&B in Dover (an emergency placement), then an emergency bed, then home to family (the case
    left open: the journey ends with the departure)."""
    case = ACase(district="dover")
    case.referred(d(4, 1))
    bnb = case.placed(d(4, 1), BED_AND_BREAKFAST, PlacementRoute.emergency)
    case.bed_and_breakfast_nights(d(4, 1), 5)
    bed = case.moved(d(4, 6), EMERGENCY_BED, MoveDirection.lateral)
    case.ended(d(5, 6), Destination.friends_or_family, recorded=end_recorded)
    return AYoungPerson("B&B", [case], [cost(bnb, d(4, 1), 57_500, days=5), cost(bed, d(4, 1), 80_000)],
                        ("presentation", "emergency:bed_and_breakfast", "emergency:emergency_assessment_bed",
                         "move_on:planned"), 35, 137_500)


def floating_support() -> AYoungPerson:
    """A care leaver supported in their own home, to a planned end; the case closed the next day."""
    case = ACase()
    case.referred(d(5, 1), Cohort.care_leaver, Gateway.leaving_care_team)
    case.assessed(d(5, 5))
    support = case.floating_support(d(5, 10))
    case.floating_support_ended(d(11, 10))
    case.closed(d(11, 11))
    return AYoungPerson("floating support", [case], [cost(support, d(6, 1), 60_000)],
                        ("presentation", "assessment", "supported:floating_support", "move_on:planned"), 194, 60_000)


def a_linked_person(link_recorded: date | None = None) -> AYoungPerson:
    """Presented in Maidstone (mediation failed, case closed); referred again in Dover as if someone new, the case
    then linked to the same person; supported lodgings, open today."""
    first = ACase()
    first.referred(d(1, 10))
    first.mediation(d(1, 12), d(1, 20), MediationOutcome.not_possible)
    first.closed(d(1, 25))
    second = ACase(district="dover")
    second.referred(d(8, 1))
    second.linked(d(8, 2), first.person_ref, recorded=link_recorded)
    second.restricted_flag(d(8, 2))
    second.assessed(d(8, 3))
    second.panel(d(8, 4))
    lodgings = second.placed(d(8, 10), LODGINGS, PlacementRoute.children_services)
    return AYoungPerson("linked person", [first, second], [cost(lodgings, d(8, 1), 40_000)],
                        ("presentation", "prevention", "re_presentation", "assessment", "panel",
                         "supported:supported_lodgings"), 356, 40_000)


def a_move_on_and_back() -> AYoungPerson:
    """Not of the hand-written set (its figures stay as they are): an unaccompanied asylum-seeking child (a UASC
    flag raised), floating support to a planned end in March, the case closed; back in October (within 12 months):
    assessed, the panel refers elsewhere; open today."""
    case = ACase()
    case.referred(d(1, 15))
    case.flagged(d(1, 15), Flag.uasc)
    support = case.floating_support(d(1, 20))
    case.floating_support_ended(d(3, 20))
    case.closed(d(3, 21))
    case.reopened(d(10, 1))
    case.assessed(d(10, 2))
    case.panel(d(10, 3), PanelDecision.refer_elsewhere)
    return AYoungPerson("move on and back", [case], [cost(support, d(2, 1), 20_000)],
                        ("presentation", "supported:floating_support", "move_on:planned", "re_presentation",
                         "assessment", "panel"), 351, 20_000)


def the_hand_written_set(**late) -> list[AYoungPerson]:
    return [a_step_down(), a_breakdown(), a_return(),
            a_bed_and_breakfast_stay(late.get("bed_and_breakfast_end_recorded")), floating_support(),
            a_linked_person(late.get("link_recorded"))]
