"""A seeded simulation of a county's young people, day by day: what happens to each of them, as the actions
casetrack's real interfaces would receive (a district's referral message, a case worker's assessment, a provider's
move-on...). Pure: no I/O, no clock; the same parameters, seed and days give the same actions, fact by fact.

Capacity is simulated: a young person with nowhere to stay tonight takes an emergency bed, or B&B when every
emergency bed in their district is taken; an allocated young person waits for a place of the kind chosen, and after
a while takes any progression place free. Young people who went through B&B, or took a place that was not the one
chosen, break down more often (`move_on.shortage_breakdown_factor`), so B&B and breakdowns rise together when
emergency places run out.

Each district's young people are placed in that district's schemes, so each district's actions can be sent by a
client of its own without one district's placements racing another's for a unit. Within a day, endings come
first (09:00), then moves (11:00), case work (12:00), the panel (14:00), starts (15:00) and support plans (17:00),
so that a unit freed in the morning is free when the afternoon's placement asks for it."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Any

from shared.contracts.placement_vocabulary import Destination, PathwayStage, ProvisionType
from shared.contracts.vocabulary import Cohort, Flag, Level
from shared.demo.parameters import Parameters

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


class Phase(IntEnum):
    """When in the day a happening takes place: the hour it starts at."""

    catalogue = 7
    birthdays = 8
    endings = 9
    moves = 11
    casework = 12
    panel = 14
    starts = 15
    plans = 17


@dataclass(frozen=True)
class Action:
    """One thing that happened, as a real interface would receive it: when, what kind, in which district (None: the
    county's catalogue and money), to which simulated young person (their number), and its facts (JSON-ready,
    naming schemes by their key and placements by the young person's own count of them)."""

    at: datetime
    kind: str
    district: str | None
    young_person: int | None
    facts: dict[str, Any]

    @property
    def sent(self) -> bool:
        """Whether a real interface receives it (casetrack records a young person turning 18 itself)."""
        return self.kind != "turned-18"


@dataclass
class Scheme:
    key: str
    district: str
    provision_type: ProvisionType
    stage: PathwayStage
    level: Level
    hours: float
    units: int
    let: int = 0

    @property
    def free(self) -> bool:
        return self.let < self.units


@dataclass
class Stay:
    scheme: Scheme
    placement: int
    index: int
    since: date
    plan: list[str] | None = None


@dataclass
class YoungPerson:
    number: int
    district: str
    cohort: Cohort
    door: str
    born: date
    support_level: Level
    looked_after: bool = False
    care_leaver: bool = False
    case_open: bool = True
    epoch: int = 0
    duty_running: bool = False
    mediating: bool = False
    mediation_attempts: int = 0
    defers: int = 0
    placements: int = 0
    stay: Stay | None = None
    stay_serial: int = 0
    waiting_since: date | None = None
    wanted: ProvisionType | None = None
    shortage: bool = False
    floating_support: int = 0
    in_floating_support: bool = False
    returned: int = 0

    def age_on(self, day: date) -> int:
        return day.year - self.born.year - ((day.month, day.day) < (self.born.month, self.born.day))

    def counted_under_18_on(self, day: date) -> bool:
        """Whether casetrack counts them as 16/17 on `day` (until the first of the month after they turn 18)."""
        return day < counted_as_18_from(self.born)

    def cohort_on(self, day: date) -> Cohort:
        """The cohort their age and legal status give on `day`, as casetrack counts their age."""
        under_18 = self.counted_under_18_on(day)
        if self.looked_after and under_18:
            return Cohort.looked_after_16_17
        if self.looked_after or self.care_leaver:
            return Cohort.care_leaver
        return Cohort.homeless_16_17 if under_18 else Cohort.young_person_at_risk


@dataclass(order=True)
class _Happening:
    day: date
    phase: Phase
    serial: int
    run: Callable[[], None] = field(compare=False)


GIVEN_NAMES = ("Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Alex", "Sam", "Charlie", "Robin",
               "Kai", "Ellis", "Rowan", "Harley", "Skye", "Drew", "Frankie", "Jude", "Remy", "Quinn")
FAMILY_NAMES = ("Ashworth", "Bamber", "Catterall", "Dewhurst", "Eccles", "Fazackerley", "Greenhalgh", "Haworth",
                "Ingham", "Jolly", "Kenyon", "Lord", "Marsden", "Nuttall", "Ormerod", "Pilling", "Rawcliffe",
                "Sharples", "Tattersall", "Whittle")


def letters(number: int) -> str:
    """A number as letters (names must be letters): 0 -> "a", 27 -> "bb"."""
    out = ""
    while True:
        out = chr(ord("a") + number % 26) + out
        number = number // 26 - 1
        if number < 0:
            return out


def counted_as_18_from(born: date) -> date:
    """The first day of the month after the 18th birthday: when casetrack records the young person as 18."""
    year, month = born.year + 18, born.month + 1
    return date(year + (month > 12), (month - 1) % 12 + 1, 1)


class CountySimulation:
    """The county, day by day from `first_day` to `last_day` (both included)."""

    def __init__(self, parameters: Parameters, seed: int, first_day: date, last_day: date,
                 young_people: int | None = None):
        self.parameters, self.first_day, self.last_day = parameters, first_day, last_day
        self.rng = random.Random(seed)
        days = (last_day - first_day).days + 1
        natural = parameters.young_people_per_week * days / 7
        self.young_people = round(natural) if young_people is None else young_people
        self.scale = self.young_people / natural if natural else 1.0
        """Capacity and budgets follow the number of young people asked for, so the county's pressure stays the
        same whatever its size."""
        self._queue: list[_Happening] = []
        self._serial = 0
        self._today = first_day
        self._phase = Phase.catalogue
        self._seconds: dict[Phase, int] = {}
        self._emitted: list[Action] = []
        self.schemes: dict[str, Scheme] = {}
        self.people: list[YoungPerson] = []
        self.panel_queue: list[YoungPerson] = []
        self.waiting: dict[str, list[YoungPerson]] = {d.code: [] for d in parameters.districts}
        self.in_bed_and_breakfast: dict[int, YoungPerson] = {}

    # -- the clock ---------------------------------------------------------------------------------------------

    def actions(self) -> Iterator[Action]:
        """Every action, in simulated time order."""
        self._at(self.first_day, Phase.catalogue, self._open_the_county)
        for number, day in enumerate(sorted(self.first_day + timedelta(days=self.rng.randrange(
                (self.last_day - self.first_day).days + 1)) for _ in range(self.young_people))):
            self._at(day, Phase.casework, lambda n=number: self._refer(n))
        panel_weekday = WEEKDAYS.index(self.parameters.panel.weekday)
        day = self.first_day
        while day <= self.last_day:
            if day.weekday() == panel_weekday:
                self._at(day, Phase.panel, self._panel)
            self._at(day, Phase.endings, self._bed_and_breakfast_leavers)
            self._at(day, Phase.starts, self._match)
            day += timedelta(days=1)
        while self._queue and self._queue[0].day <= self.last_day:
            happening = heapq.heappop(self._queue)
            if happening.day != self._today:
                yield from self._the_day_done()
                self._today, self._seconds = happening.day, {}
            self._phase = happening.phase
            happening.run()
        yield from self._the_day_done()

    def _the_day_done(self) -> list[Action]:
        done = sorted(self._emitted, key=lambda action: action.at)
        self._emitted = []
        return done

    def _at(self, day: date, phase: Phase, run: Callable[[], None]) -> None:
        if (day, phase) < (self._today, self._phase):
            raise ValueError(f"a happening on {day} at {phase.name} is in the simulation's past")
        self._serial += 1
        heapq.heappush(self._queue, _Happening(day, phase, self._serial, run))

    def _later(self, days: int, phase: Phase, person: YoungPerson, run: Callable[[], None]) -> None:
        """Run `run` in `days` days if the young person's case is still in the same episode then."""
        epoch = person.epoch

        def if_still() -> None:
            if person.epoch == epoch:
                run()
        self._at(self._today + timedelta(days=days), phase, if_still)

    def _emit(self, kind: str, district: str | None, person: YoungPerson | None, /, **facts: Any) -> None:
        second = self._seconds.get(self._phase, 0)
        self._seconds[self._phase] = second + 1
        at = datetime.combine(self._today, time(self._phase.value), UTC) + timedelta(seconds=second)
        self._emitted.append(Action(at, kind, district, person.number if person else None, facts))

    # -- chance --------------------------------------------------------------------------------------------------

    def _chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def _pick(self, weights: dict) -> Any:
        keys = list(weights)
        return self.rng.choices(keys, weights=[weights[key] for key in keys])[0]

    def _days(self, weeks: float) -> int:
        """A length of stay: exponential around its average, at least a day."""
        return max(1, round(self.rng.expovariate(1 / (weeks * 7))))

    def _between(self, fewest: int, most: int) -> int:
        return self.rng.randint(fewest, most)

    # -- the county's catalogue and money ----------------------------------------------------------------------

    def _open_the_county(self) -> None:
        parameters = self.parameters
        first = self.first_day.isoformat()
        providers_emitted: set[str] = set()
        for kind, provision in parameters.provision.items():
            for district in parameters.districts:
                units = provision.units.get(district.code, 0)
                if not units:
                    continue
                units = max(1, round(units * self.scale))
                provider = parameters.provider_of(kind, district.code)
                if provider.name not in providers_emitted:
                    providers_emitted.add(provider.name)
                    self._emit("provider", None, None, provider=provider.name, district=district.code)
                key = f"{kind.value}@{district.code}"
                scheme = Scheme(key, district.code, kind, provision.pathway_stage, provision.support_level,
                                provision.support_hours_per_week, units)
                self.schemes[key] = scheme
                self._emit("scheme", None, None, scheme=key, provider=provider.name, district=district.code,
                           provision_type=kind.value, pathway_stage=provision.pathway_stage.value,
                           support_level=provision.support_level.value,
                           support_hours_per_week=provision.support_hours_per_week, capacity_units=units,
                           opened_on=first, max_stay_days=provision.max_stay_days,
                           target_stay_days=provision.target_stay_days)
                if provision.registered_with_ofsted:
                    self._emit("ofsted-registration", None, None, scheme=key,
                               registration_number=f"SC{self.rng.randrange(10**6, 10**7)}", registered_from=first)
                contract = provision.contract
                block = contract.procurement.value.startswith("block")
                self._emit("contract", None, None, scheme=key, provider=provider.name,
                           procurement=contract.procurement.value, service_type=contract.service_type.value,
                           starts_on=first, contracted_units=units if block else None,
                           basis="per_support_hour" if contract.per_support_hour else "per_unit_week",
                           package={"rent": _pence(contract.rent), "service_charge": _pence(contract.service_charge),
                                    "support": _pence(contract.support)},
                           funding=_basis_points(contract.funding), district=district.code)
        for year in _financial_years(self.first_day, self.last_day):
            for budget in parameters.budgets:
                self._emit("budget", None, None, financial_year=year, service_type=budget.service_type.value,
                           amount=_pence(budget.pounds * self.scale),
                           capacity_units=None if budget.capacity_units is None else
                           max(1, round(budget.capacity_units * self.scale)),
                           district=parameters.districts[0].code)

    # -- presentation and prevention ----------------------------------------------------------------------------

    def _refer(self, number: int) -> None:
        parameters, day = self.parameters, self._today
        cohort = self._pick({cohort: shape.share for cohort, shape in parameters.cohorts.items()})
        shape = parameters.cohorts[cohort]
        district = self._pick({d.code: d.share for d in parameters.districts})
        age = self._between(shape.ages.youngest, shape.ages.oldest)
        born = _birthday(day, age, self.rng.randrange(1, 365))
        person = YoungPerson(number, district, cohort, shape.door, born, self._pick(shape.support_levels),
                             looked_after=cohort is Cohort.looked_after_16_17, care_leaver=cohort is Cohort.care_leaver)
        self.people.append(person)
        flags = [flag.value for flag, chance in ((Flag.neet, 0.35), (Flag.mental_health, 0.2), (Flag.rural, 0.1))
                 if self._chance(chance)]
        if cohort is Cohort.looked_after_16_17 and self._chance(0.15):
            flags.append(Flag.uasc.value)
        self._emit("referral", district, person, door=shape.door, gateway=self._pick(shape.gateways).value,
                   cohort=cohort.value, presenting_reason=self._pick(shape.presenting_reasons).value, flags=flags,
                   young_person={"given_name": self.rng.choice(GIVEN_NAMES),
                                 "family_name": f"{self.rng.choice(FAMILY_NAMES)}-{letters(number).capitalize()}",
                                 "date_of_birth": born.isoformat()})
        eighteen = counted_as_18_from(born)
        if day < eighteen <= self.last_day:
            self._at(eighteen, Phase.birthdays, lambda: self._turn_18(person))
        if person.door == "district_system":
            self._later(self._between(0, 2), Phase.casework, person, lambda: self._decide_eligibility(person))
        else:
            self._assess_later(person)
        if self._chance(parameters.emergency.needed_at_referral):
            self._place_in_an_emergency(person)

    def _turn_18(self, person: YoungPerson) -> None:
        if person.case_open:
            self._emit("turned-18", person.district, person, age=18)

    def _decide_eligibility(self, person: YoungPerson) -> None:
        eligible = person.stay is not None or self._chance(self.parameters.prevention.eligible)
        self._emit("eligibility", person.district, person, eligible=eligible)
        if not eligible:
            self._close(person, "not_eligible", moved_on=False)
            return
        self._emit("duty-start", person.district, person, duty="prevention")
        person.duty_running = True
        prevention = self.parameters.prevention
        if person.cohort_on(self._today) is Cohort.homeless_16_17 and self._chance(prevention.mediation_attempted):
            self._later(1, Phase.casework, person, lambda: self._start_mediation(person))
        else:
            self._assess_later(person)

    def _start_mediation(self, person: YoungPerson) -> None:
        person.mediating = True
        person.mediation_attempts += 1
        self._emit("mediation-attempt", person.district, person)
        prevention = self.parameters.prevention
        self._later(self._between(prevention.mediation_days.fewest, prevention.mediation_days.most), Phase.casework,
                    person, lambda: self._conclude_mediation(person))

    def _conclude_mediation(self, person: YoungPerson) -> None:
        person.mediating = False
        returns_home = next(d.mediation_returns_home for d in self.parameters.districts if d.code == person.district)
        draw = self.rng.random()
        if draw < returns_home:
            outcome, destination, closure = "returned_home", Destination.previous_home, "returned_home"
        elif draw < returns_home + self.parameters.prevention.stayed_with_wider_family_or_friends:
            outcome, destination = "stayed_with_wider_family_or_friends", Destination.friends_or_family
            closure = "other"
        else:
            outcome = "not_possible"
        self._emit("mediation-outcome", person.district, person, outcome=outcome)
        if outcome == "not_possible":
            self._assess_later(person)
            return
        attempt = person.mediation_attempts
        self._later(1, Phase.endings, person, lambda: self._go_home(person, destination, closure))
        if outcome == "returned_home":
            self._later(91, Phase.casework, person, lambda: self._follow_up(person, attempt, 3))

    def _go_home(self, person: YoungPerson, destination: Destination, closure: str) -> None:
        if person.stay is not None:
            self._end_stay(person, planned=True, destination=destination)
        self._later(0, Phase.casework, person, lambda: self._close(person, closure, moved_on=False))

    def _follow_up(self, person: YoungPerson, attempt: int, months: int) -> None:
        """A return home followed up at 3 and 6 months (recorded on the closed case); one that did not last brings
        the young person back."""
        prevention = self.parameters.prevention
        lasted = self._chance(prevention.still_home_at_3_months if months == 3 else prevention.still_home_at_6_months)
        self._emit("return-home-follow-up", person.district, person, attempt=attempt, months_after=months,
                   still_at_home=lasted)
        if lasted and months == 3:
            self._later(91, Phase.casework, person, lambda: self._follow_up(person, attempt, 6))
        elif not lasted and not person.case_open:
            self._later(self._between(1, 14), Phase.casework, person, lambda: self._reopen(person))

    # -- assessment and panel -----------------------------------------------------------------------------------

    def _assess_later(self, person: YoungPerson) -> None:
        days = self.parameters.panel.days_from_referral_to_assessment
        self._later(self._between(days.fewest, days.most), Phase.casework, person, lambda: self._assess(person))

    def _assess(self, person: YoungPerson) -> None:
        panel = self.parameters.panel
        needs = [need.value for need, chance in panel.support_needs.items() if self._chance(chance)]
        level = person.support_level
        under_18 = person.age_on(self._today) < 18
        self._emit("assessment", person.district, person, support_needs=needs, support_level=level.value,
                   risk=self._pick({Level.high: 1, Level.medium: 2, Level.low: 2} if level is not Level.high else
                                   {Level.high: 3, Level.medium: 2}).value,
                   priority_band="A" if under_18 or level is Level.high else self._pick({"B": 3, "C": 2}))
        # casetrack records turning 18 (AgeReached) as soon as it learns of a referral back-dated before that day:
        # a status change dated before it would then be refused, so only those still 17 after the last day have one
        if (person.cohort_on(self._today) is Cohort.homeless_16_17 and counted_as_18_from(person.born) > self.last_day
                and self._chance(self.parameters.prevention.southwark_assessment)):
            person.looked_after = True
            self._emit("legal-status", person.district, person, legal_status="looked_after_section_20",
                       reason="southwark_assessment")
        self.panel_queue.append(person)

    def _panel(self) -> None:
        """The weekly multi-agency panel: everyone assessed since the last one."""
        seen, self.panel_queue = self.panel_queue, []
        for person in seen:
            if not person.case_open:
                continue
            decision = self._pick(self.parameters.panel.decisions).value
            if decision == "defer" and person.defers >= 2:
                decision = "allocate_service"
            self._emit("panel-decision", person.district, person, decision=decision,
                       panel_date=self._today.isoformat(),
                       emergency_placement_reported=person.stay is not None and person.stay.placement == 1
                       and person.stay.scheme.stage is PathwayStage.assessment)
            if decision == "defer":
                person.defers += 1
                self.panel_queue.append(person)
            elif decision == "allocate_service":
                person.wanted = self._allocated_provision(person.support_level)
                person.waiting_since = self._today
                self.waiting[person.district].append(person)
            elif decision == "return_home_with_support":
                self._later(1, Phase.endings, person, lambda p=person: self._home_with_support(p))
            else:
                self._later(1, Phase.endings, person, lambda p=person: self._referred_elsewhere(p))

    def _allocated_provision(self, level: Level) -> ProvisionType:
        choices = {kind: sum(p.units.values()) for kind, p in self.parameters.provision.items()
                   if p.pathway_stage is PathwayStage.progression and p.support_level is level
                   and kind is not ProvisionType.floating_support}
        return self._pick(choices)

    def _home_with_support(self, person: YoungPerson) -> None:
        if person.stay is not None:
            self._end_stay(person, planned=True, destination=Destination.previous_home)
        self._later(0, Phase.starts, person, lambda: self._floating_support_or_close(person))

    def _referred_elsewhere(self, person: YoungPerson) -> None:
        if person.stay is not None:
            self._end_stay(person, planned=True, destination=Destination.short_term_supported_housing)
        self._later(0, Phase.casework, person, lambda: self._close(person, "referred_elsewhere", moved_on=False))

    # -- placements ---------------------------------------------------------------------------------------------

    def _free(self, district: str, *kinds: ProvisionType) -> Scheme | None:
        for kind in kinds:
            scheme = self.schemes.get(f"{kind.value}@{district}")
            if scheme is not None and scheme.free:
                return scheme
        return None

    def _place_in_an_emergency(self, person: YoungPerson) -> None:
        scheme = self._free(person.district, ProvisionType.emergency_assessment_bed, ProvisionType.bed_and_breakfast)
        if scheme is None:
            return
        if scheme.provision_type is ProvisionType.bed_and_breakfast:
            person.shortage = True
        self._later(0, Phase.starts, person, lambda: self._start(person, scheme, "emergency"))

    def _start(self, person: YoungPerson, scheme: Scheme, route: str) -> None:
        if not scheme.free or person.stay is not None:
            return
        person.placements += 1
        scheme.let += 1
        self._emit("placement-start", person.district, person, placement=person.placements, scheme=scheme.key,
                   route=route)
        self._begin_stay(person, scheme, 0)
        if person.duty_running and scheme.stage is not PathwayStage.assessment:
            self._end_duty(person, "accommodation_secured")

    def _begin_stay(self, person: YoungPerson, scheme: Scheme, index: int) -> None:
        person.stay = stay = Stay(scheme, person.placements, index, self._today)
        if scheme.provision_type is ProvisionType.bed_and_breakfast:
            self.in_bed_and_breakfast[person.number] = person
        person.stay_serial += 1
        serial = person.stay_serial
        if scheme.provision_type is not ProvisionType.bed_and_breakfast:
            self._later(self._between(1, 7), Phase.plans, person, lambda: self._agree_plan(person, stay))
        if scheme.stage is not PathwayStage.assessment:
            weeks = self.parameters.provision[scheme.provision_type].stay_weeks
            self._later(self._days(weeks), Phase.endings, person,
                        lambda: person.stay_serial == serial and self._stay_over(person))

    def _match(self) -> None:
        """Each district's allocated young people, longest waiting first, into a place of the kind chosen, or after
        a while any progression place free."""
        patience = self.parameters.emergency.accept_any_progression_after_days
        any_progression = [kind for kind, p in self.parameters.provision.items() if
                           p.pathway_stage is PathwayStage.progression and kind is not ProvisionType.floating_support]
        for district, waiting in self.waiting.items():
            still = []
            for person in waiting:
                if not person.case_open or person.wanted is None:
                    continue
                scheme = self._free(district, person.wanted)
                if scheme is None and (self._today - person.waiting_since).days >= patience:
                    scheme = self._free(district, *any_progression)
                    if scheme is not None:
                        person.shortage = True
                if scheme is None:
                    still.append(person)
                    continue
                person.wanted = None
                route = {Cohort.looked_after_16_17: "children_services", Cohort.care_leaver: "pathway_plan"}.get(
                    person.cohort_on(self._today), "panel")
                if person.stay is None:
                    self._start(person, scheme, route)
                else:
                    self._move(person, scheme, planned=True)
                    if person.duty_running:
                        self._end_duty(person, "accommodation_secured")
            self.waiting[district] = still

    def _move(self, person: YoungPerson, to: Scheme, planned: bool) -> None:
        stay = person.stay
        self._count_bed_and_breakfast_nights(person)
        level = _LEVELS[to.level] - _LEVELS[stay.scheme.level]
        direction = "step_up" if level > 0 else "step_down" if level < 0 else "lateral"
        stay.scheme.let -= 1
        to.let += 1
        self._emit("placement-move", person.district, person, placement=stay.placement, to_scheme=to.key,
                   direction=direction, planned=planned)
        self._depart(person, stay)
        self._begin_stay(person, to, stay.index + 1)

    def _count_bed_and_breakfast_nights(self, person: YoungPerson) -> None:
        """Before the young person leaves B&B, every night they spent there (a move or an end follows)."""
        stay = person.stay
        self.in_bed_and_breakfast.pop(person.number, None)
        nights = (self._today - stay.since).days
        if stay.scheme.provision_type is ProvisionType.bed_and_breakfast and nights > 0:
            self._emit("bed-and-breakfast-nights", person.district, person, placement=stay.placement,
                       first_night=stay.since.isoformat(), nights=min(nights, 366))

    def _bed_and_breakfast_leavers(self) -> None:
        """Young people in B&B leave it, unplanned, at the weekly rate the parameters give."""
        daily = 1 - (1 - self.parameters.emergency.leaves_bed_and_breakfast_per_week) ** (1 / 7)
        for person in list(self.in_bed_and_breakfast.values()):
            stay = person.stay
            if (stay.since == self._today or person.mediating or not self._chance(daily)):
                continue
            destination = self._pick({d: w for d, w in self.parameters.move_on.unplanned_destinations.items()
                                      if d in _LEAVING_BED_AND_BREAKFAST} or {Destination.not_known: 1})
            self._end_stay(person, planned=False, destination=destination, reason="young_person_left")
            self._later(0, Phase.casework, person, lambda p=person: self._close(p, "disengaged", moved_on=False))

    def _stay_over(self, person: YoungPerson) -> None:
        """A progression or move-on stay reaches its end: a planned move-on (perhaps a step down first), or an
        unplanned end, likelier after a shortage."""
        move_on = self.parameters.move_on
        unplanned = min(1.0, (1 - move_on.planned_share) * (move_on.shortage_breakdown_factor if person.shortage
                                                            else 1.0))
        stay = person.stay
        if not self._chance(unplanned):
            if stay.scheme.stage is PathwayStage.progression and self._chance(move_on.step_down_before_moving_on):
                scheme = self._free(person.district, *(k for k, p in self.parameters.provision.items()
                                                       if p.pathway_stage is PathwayStage.move_on))
                if scheme is not None:
                    self._move(person, scheme, planned=True)
                    return
            destination = self._pick(move_on.planned_destinations)
            self._end_stay(person, planned=True, destination=destination)
            own_home = destination in (Destination.private_rented, Destination.social_rented)
            if own_home and self._chance(move_on.floating_support_after_own_tenancy):
                self._later(0, Phase.starts, person, lambda: self._floating_support_or_close(person))
            else:
                self._later(0, Phase.casework, person, lambda: self._close(person, "moved_on"))
            return
        destination = self._pick(move_on.unplanned_destinations)
        self._end_stay(person, planned=False, destination=destination, reason=_BREAKDOWN_BY_DESTINATION.get(
            destination, "" if destination is Destination.died else self._pick(move_on.breakdown_reasons).value))
        self._later(0, Phase.casework, person, lambda: self._close(person, "disengaged", moved_on=False))

    def _end_stay(self, person: YoungPerson, planned: bool, destination: Destination, reason: str = "") -> None:
        """The placement ends: a move-on (planned or not) or a breakdown with its reason."""
        stay = person.stay
        self._count_bed_and_breakfast_nights(person)
        stay.scheme.let -= 1
        if planned or not reason:
            self._emit("placement-end", person.district, person, placement=stay.placement, planned=planned,
                       destination=destination.value)
        else:
            self._emit("placement-breakdown", person.district, person, placement=stay.placement, reason=reason,
                       destination=destination.value)
        person.stay = None
        person.stay_serial += 1
        self._depart(person, stay)

    # -- floating support ---------------------------------------------------------------------------------------

    def _floating_support_or_close(self, person: YoungPerson) -> None:
        scheme = self._free(person.district, ProvisionType.floating_support)
        if scheme is None or not person.case_open:
            self._later(0, Phase.plans, person, lambda: self._close(person, "moved_on"))
            return
        scheme.let += 1
        person.floating_support += 1
        person.in_floating_support = True
        episode = person.floating_support
        self._emit("floating-support-start", person.district, person, floating_support=episode, scheme=scheme.key)
        support = self.parameters.floating_support
        days = self._days(support.weeks)
        outcomes: dict[str, list[str] | None] = {"plan": None}

        def agree() -> None:
            outcomes["plan"] = self._outcomes_needed()
            self._emit("support-plan", person.district, person, floating_support=episode,
                       outcomes_needed=outcomes["plan"])

        def review() -> None:
            if outcomes["plan"] is not None:
                self._emit("support-review", person.district, person, floating_support=episode,
                           independence="maintained" if self._chance(self.parameters.outcomes.independence_maintained)
                           else "not_maintained")

        def end() -> None:
            scheme.let -= 1
            person.in_floating_support = False
            home = self._chance(support.ends_in_own_home)
            self._emit("floating-support-end", person.district, person, floating_support=episode, planned=home,
                       destination="remained_in_own_home" if home else "not_known",
                       hours_delivered=round(support.hours_per_week * days / 7))
            if outcomes["plan"] is not None:
                self._later(0, Phase.plans, person, lambda: self._emit(
                    "departure-outcomes", person.district, person, floating_support=episode,
                    results=self._results(outcomes["plan"])))
            self._later(0, Phase.casework, person, lambda: self._close(person, "moved_on" if home else "disengaged",
                                                                      moved_on=home))

        if days > 1:
            self._later(1, Phase.plans, person, agree)
        if days > 14:
            self._later(days // 2, Phase.plans, person, review)
        self._later(days, Phase.endings, person, end)

    # -- outcomes -----------------------------------------------------------------------------------------------

    def _outcomes_needed(self) -> list[str]:
        shape = self.parameters.outcomes
        wanted = self._between(shape.outcomes_per_plan.fewest, shape.outcomes_per_plan.most)
        weights = {outcome: weight for outcome, weight in shape.needed.items() if weight > 0}
        chosen: list[str] = []
        while weights and len(chosen) < wanted:
            outcome = self._pick(weights)
            chosen.append(outcome.value)
            del weights[outcome]
        return sorted(chosen)

    def _results(self, needed: list[str]) -> dict[str, str]:
        shape = self.parameters.outcomes
        results = {}
        for outcome in needed:
            if self._chance(shape.not_applicable):
                results[outcome] = "not_applicable"
            else:
                results[outcome] = "achieved" if self._chance(shape.achieved) else "not_achieved"
        return results

    def _agree_plan(self, person: YoungPerson, stay: Stay) -> None:
        if person.stay is not stay:
            return  # the stay ended before a plan was agreed
        stay.plan = self._outcomes_needed()
        self._emit("support-plan", person.district, person, placement=stay.placement, stay=stay.index,
                   outcomes_needed=stay.plan)

    def _depart(self, person: YoungPerson, stay: Stay) -> None:
        """The provider records the outcomes at departure from a stay that had a plan (later the same day)."""
        if stay.plan is not None:
            self._later(0, Phase.plans, person, lambda: self._emit(
                "departure-outcomes", person.district, person, placement=stay.placement, stay=stay.index,
                results=self._results(stay.plan)))

    # -- closure and returns ------------------------------------------------------------------------------------

    def _end_duty(self, person: YoungPerson, reason: str) -> None:
        self._emit("duty-end", person.district, person, duty="prevention", reason=reason)
        person.duty_running = False

    def _close(self, person: YoungPerson, reason: str, moved_on: bool = True) -> None:
        if not person.case_open or person.stay is not None or person.in_floating_support or person.mediating:
            return
        if person.duty_running:
            self._end_duty(person, "accommodation_secured" if reason in ("moved_on", "returned_home", "other")
                           else "lost_contact")
        self._emit("closure", person.district, person, reason=reason)
        person.case_open = False
        person.epoch += 1
        if person in self.panel_queue:
            self.panel_queue.remove(person)
        person.wanted = None
        if moved_on and self._chance(self.parameters.move_on.returns_within_two_years):
            self._later(self._between(30, 730), Phase.casework, person, lambda: self._reopen(person))

    def _reopen(self, person: YoungPerson) -> None:
        """The same young person referred again on their closed case (a return)."""
        if person.case_open or person.age_on(self._today) > 25:
            return
        if person.age_on(self._today) >= 18 and person.counted_under_18_on(self._today):
            # between the 18th birthday and the month's end casetrack still counts them 17: come back then
            self._later((counted_as_18_from(person.born) - self._today).days, Phase.casework, person,
                        lambda: self._reopen(person))
            return
        person.case_open, person.defers, person.shortage = True, 0, False
        person.epoch += 1
        person.returned += 1
        cohort = person.cohort_on(self._today)
        self._emit("reopening", person.district, person, cohort=cohort.value,
                   presenting_reason=self._pick({"loss_of_tenancy": 2, "relationship_breakdown": 1,
                                                 "family_breakdown": 1}))
        self._assess_later(person)
        if self._chance(self.parameters.emergency.needed_at_referral):
            self._place_in_an_emergency(person)


_LEVELS = {Level.low: 0, Level.medium: 1, Level.high: 2}
_BREAKDOWN_BY_DESTINATION = {Destination.abandoned: "abandonment", Destination.custody: "custody",
                             Destination.hospital_or_care_home: "hospital"}
_LEAVING_BED_AND_BREAKFAST = {Destination.friends_or_family, Destination.sleeping_rough, Destination.not_known,
                              Destination.other}


def _birthday(day: date, age: int, days_past: int) -> date:
    """A date of birth making the young person `age` on `day`, `days_past` days after a birthday."""
    try:
        last = day.replace(year=day.year - age)
    except ValueError:  # 29 February
        last = day.replace(year=day.year - age, day=28)
    return last - timedelta(days=days_past % 365)


def _pence(pounds: float) -> int:
    return round(pounds * 100)


def _basis_points(shares: dict) -> list[dict[str, Any]]:
    """Shares of 1 as basis points summing to exactly 10,000 (the largest takes the rounding)."""
    points = {stream.value: math.floor(share * 10_000 + 0.5) for stream, share in shares.items() if share > 0}
    largest = max(points, key=points.get)
    points[largest] += 10_000 - sum(points.values())
    return [{"stream": stream, "share": share} for stream, share in points.items()]


def _financial_years(first: date, last: date) -> list[int]:
    """The financial years (April to March, named by the year they begin) the days touch."""
    start = first.year - (first.month < 4)
    end = last.year - (last.month < 4)
    return list(range(start, end + 1))


def simulate(parameters: Parameters, seed: int, first_day: date, last_day: date,
             young_people: int | None = None) -> list[Action]:
    """Every action of the county from `first_day` to `last_day`, in simulated time order."""
    return list(CountySimulation(parameters, seed, first_day, last_day, young_people).actions())
