"""The Case aggregate: a young person's case from presentation to closure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import singledispatchmethod
from uuid import UUID, uuid4

from shared.aggregate import Aggregate
from shared.contracts import Event
from shared.contracts.referral import (
    STATUS_ASSUMED_FOR_COHORT,
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    DutyEnded,
    DutyStarted,
    EligibilityDecided,
    FlagEnded,
    FlagRaised,
    LegalStatusChanged,
    MediationAttempted,
    MediationConcluded,
    PanelDecisionMade,
    PersonalDataErased,
    PersonLinked,
    PersonUnlinked,
    PossibleMatchDismissed,
    PossibleMatchFlagged,
    ReferralMade,
    RestrictedFlagEnded,
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
    MatchedDetail,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    SafeguardingFlag,
    StatusChangeReason,
    SupportNeed,
    district_in_force,
)
from shared.contracts.vocabulary import DistrictNotInForce as NotInForce
from shared.contracts.vocabulary import UnknownDistrict as NotADistrict
from shared.errors import Conflict, Refused

RELIEF_PERIOD = timedelta(days=56)
"""s189B: the relief duty ends once 56 days have passed; then a main duty decision is due."""
PREVENTION_REVIEW_AFTER = timedelta(days=56)
"""s195: the prevention duty may continue past 56 days; at 56 days it is due a review, not overdue."""

END_REASONS: dict[Duty, frozenset[DutyEndReason]] = {
    Duty.prevention: frozenset({
        DutyEndReason.accommodation_secured, DutyEndReason.became_homeless, DutyEndReason.no_longer_eligible,
        DutyEndReason.lost_contact, DutyEndReason.withdrew_application, DutyEndReason.refused_suitable_offer,
        DutyEndReason.refused_to_cooperate, DutyEndReason.accommodated_by_childrens_services, DutyEndReason.other}),
    Duty.relief: frozenset({
        DutyEndReason.accommodation_secured, DutyEndReason.relief_period_ended, DutyEndReason.main_duty_accepted,
        DutyEndReason.main_duty_not_owed, DutyEndReason.no_longer_eligible, DutyEndReason.lost_contact,
        DutyEndReason.withdrew_application, DutyEndReason.refused_suitable_offer,
        DutyEndReason.refused_to_cooperate, DutyEndReason.accommodated_by_childrens_services, DutyEndReason.other}),
    Duty.main: frozenset({
        DutyEndReason.accommodation_secured, DutyEndReason.refused_suitable_offer,
        DutyEndReason.intentionally_homeless, DutyEndReason.no_longer_eligible, DutyEndReason.withdrew_application,
        DutyEndReason.lost_contact, DutyEndReason.accommodated_by_childrens_services, DutyEndReason.other}),
}
"""The reasons each duty can end for (s195(8), s189B(7), s193(5)-(7)): `became_homeless` ends prevention only,
`relief_period_ended` relief only, and the main duty is decided only once relief has ended."""
MAIN_DUTY_FOLLOWS = frozenset({DutyEndReason.relief_period_ended, DutyEndReason.main_duty_accepted})
"""How a relief duty ends when a main duty decision follows: its 56 days passed, or the main duty was accepted
earlier."""
FOLLOW_UP_MONTHS = (3, 6)
FOLLOW_UP_EARLY_BY = timedelta(days=14)
"""How early a return home may be followed up before its 3 or 6 months are up (a visit booked in the fortnight
before); the service may configure its own (`CASETRACK_RETURN_HOME_FOLLOW_UP_EARLY_DAYS`)."""


def age_on(date_of_birth: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


class Case(Aggregate):
    """A young person's case: referral, prevention, assessment, panel decision and closure."""

    district: str
    person_ref: UUID
    """Who the young person is now (changes when the case is linked to a person already known)."""
    own_person_ref: UUID
    """The person_ref the case was referred with: what an unlink returns to."""
    cohort: Cohort
    referred_at: datetime
    closed: bool = False
    assessed: bool = False
    mediation_attempts: int = 0
    mediation_in_progress: bool = False
    eligible: bool | None = None
    last_occurred_at: datetime
    closed_at: datetime
    """When the case was last closed (a re-referral is dated no earlier; later-dated facts, such as turning 18 or
    a follow-up of a return home, may be on the case already)."""
    personal_data_erased: bool = False
    legal_status: LegalStatus
    age: int
    """The young person's age at the latest age fact (referral, re-referral, status change, age reached)."""
    age_on: date
    """The day of that age fact."""
    status_since: datetime
    """When the current legal status and cohort took effect."""

    def __init__(self, id: UUID):
        super().__init__(id)
        self.possible_matches: set[UUID] = set()
        self.running_duty: tuple[Duty, datetime] | None = None
        """The homelessness duty owed now, and since when (one at a time)."""
        self.last_duty_ended: tuple[Duty, DutyEndReason, datetime] | None = None
        self.returned_home: dict[int, datetime] = {}
        """Mediation attempts that ended with the young person home, and when."""
        self.return_home_follow_ups: set[tuple[int, int]] = set()
        self.flags: dict[Flag, FlagState] = {}
        """The flags raised now, and since when (a teenage parent: with dependants)."""
        self.restricted_flags: dict[UUID, datetime] = {}
        """The safeguarding flags raised now (their kind is not in the case's events), and since when."""

    @classmethod
    def make_referral(
        cls,
        *,
        person_ref: UUID,
        district: str,
        gateway: Gateway,
        cohort: Cohort,
        date_of_birth: date,
        presenting_reason: PresentingReason,
        flags: list[Flag],
        occurred_at: datetime,
        now: datetime,
        case_id: UUID | None = None,
        legal_status: LegalStatus | None = None,
    ) -> Case:
        try:
            district_in_force(district, occurred_at.astimezone(UTC).date())
        except NotADistrict as error:
            raise UnknownDistrict(str(error), field="district") from None
        except NotInForce as error:
            raise DistrictNotInForce(str(error), field="district") from None
        cohort = Cohort(cohort)
        if occurred_at > now:
            raise EventDatedInTheFuture(f"the referral is dated {occurred_at.isoformat()}, after now")
        age = age_at(date_of_birth, occurred_at)
        check_cohort(cohort, age)
        legal_status = legal_status_given_or_implied(legal_status, cohort, age)
        case = cls(case_id or uuid4())
        case.record(
            ReferralMade,
            case_id=case.id,
            person_ref=person_ref,
            district=district,
            occurred_at=occurred_at,
            gateway=gateway,
            cohort=cohort,
            legal_status=legal_status,
            age_at_event=age,
            flags=sorted(set(flags)),
            presenting_reason=presenting_reason,
        )
        case.reach_18_if_due(date_of_birth, now)  # back-dated before a day counted as 18 already come
        return case

    def _change(self, event_class: type[Event], occurred_at: datetime, now: datetime, **facts) -> Event:
        if self.closed:
            raise CaseAlreadyClosed(f"case {self.id} is closed: reopen it before recording {event_class.__name__}")
        self._check_dated(occurred_at, now)
        return self._record_fact(event_class, occurred_at, **facts)

    def _check_dated(self, occurred_at: datetime, now: datetime) -> None:
        if occurred_at > now:
            raise EventDatedInTheFuture(f"{occurred_at.isoformat()} is after now")
        if occurred_at < self.referred_at:
            raise EventDatedBeforeReferral(
                f"{occurred_at.isoformat()} is before the referral on {self.referred_at.isoformat()}")

    def _record_fact(self, event_class: type[Event], occurred_at: datetime, **facts) -> Event:
        return self.record(event_class, case_id=self.id, person_ref=self.person_ref, district=self.district,
                           occurred_at=occurred_at, **facts)

    def decide_eligibility(self, *, eligible: bool, occurred_at: datetime, now: datetime) -> None:
        if not eligible and self.running_duty is not None:
            raise DutyStillRunning(f"the {self.running_duty[0].value} duty is running: end it (no_longer_eligible) "
                                   "before recording the case as ineligible")
        self._change(EligibilityDecided, occurred_at, now, eligible=eligible)

    def attempt_mediation(self, *, occurred_at: datetime, now: datetime) -> None:
        if self.mediation_in_progress:
            raise MediationAlreadyInProgress(f"mediation attempt {self.mediation_attempts} has not concluded")
        self._change(MediationAttempted, occurred_at, now, attempt=self.mediation_attempts + 1)

    def conclude_mediation(self, *, outcome: MediationOutcome, occurred_at: datetime, now: datetime) -> None:
        if not self.mediation_in_progress:
            raise NoMediationInProgress("there is no mediation attempt to conclude")
        self._change(MediationConcluded, occurred_at, now, attempt=self.mediation_attempts, outcome=outcome)

    # -- mediation follow-up ---------------------------------------------------------------------------------

    def follow_up_return_home(self, *, attempt: int, months_after: int, still_at_home: bool, occurred_at: datetime,
                              now: datetime, early_by: timedelta = FOLLOW_UP_EARLY_BY) -> None:
        """Record whether a return home after mediation lasted, 3 or 6 months on (a closed case too: the usual
        one is closed as returned_home)."""
        if months_after not in FOLLOW_UP_MONTHS:
            raise FollowUpNotAtThreeOrSixMonths("a return home is followed up at 3 or 6 months", field="months_after")
        returned_at = self.returned_home.get(attempt)
        if returned_at is None:
            raise NoReturnHomeToFollowUp(f"mediation attempt {attempt} did not end with a return home",
                                         field="attempt")
        if (attempt, months_after) in self.return_home_follow_ups:
            raise ReturnHomeAlreadyFollowedUp(
                f"the return home after attempt {attempt} was already followed up at {months_after} months")
        self._check_dated(occurred_at, now)
        due = months_later(returned_at, months_after)
        if occurred_at < due - early_by:
            raise FollowUpNotYetDue(f"the {months_after}-month follow-up is due on {due.date().isoformat()} "
                                    f"(at most {early_by.days} days earlier)", field="occurred_at")
        self._record_fact(ReturnHomeFollowedUp, occurred_at, attempt=attempt, months_after=months_after,
                          still_at_home=still_at_home)

    def complete_assessment(self, *, support_needs: list[SupportNeed], support_level: Level, risk: Level,
                            priority_band: PriorityBand, occurred_at: datetime, now: datetime) -> None:
        self._change(AssessmentCompleted, occurred_at, now, support_needs=sorted(set(support_needs)),
                     support_level=support_level, risk=risk, priority_band=priority_band)

    def decide_at_panel(self, *, decision: PanelDecision, panel_date: date, emergency_placement_reported: bool,
                        occurred_at: datetime, now: datetime) -> None:
        if not self.assessed:
            raise PanelDecisionBeforeAssessment("a panel cannot decide before the shared assessment is completed")
        self._change(PanelDecisionMade, occurred_at, now, decision=decision, panel_date=panel_date,
                     emergency_placement_reported=emergency_placement_reported)

    def close(self, *, reason: ClosureReason, occurred_at: datetime, now: datetime) -> None:
        if self.running_duty is not None and not self.closed:
            raise DutyStillRunning(f"the {self.running_duty[0].value} duty is running: record why it ended "
                                   "(DutyEnded) before closing the case")
        self._change(CaseClosed, occurred_at, now, reason=reason)

    def reopen(self, *, presenting_reason: PresentingReason, cohort: Cohort, date_of_birth: date,
               occurred_at: datetime, now: datetime, legal_status: LegalStatus | None = None) -> None:
        if not self.closed:
            raise CaseIsNotClosed(f"case {self.id} is open: record the new facts on it instead")
        self._check_dated(occurred_at, now)
        if occurred_at < self.closed_at:
            raise EventDatedBeforeReferral("a re-referral cannot be dated before the case was closed")
        cohort = Cohort(cohort)
        age = age_at(date_of_birth, occurred_at)
        check_cohort(cohort, age)
        legal_status = legal_status_given_or_implied(legal_status, cohort, age)
        self._record_fact(CaseReopened, occurred_at, presenting_reason=presenting_reason, cohort=cohort,
                          legal_status=legal_status, age_at_event=age)
        self.reach_18_if_due(date_of_birth, now)

    # -- legal status and age ---------------------------------------------------------------------

    def change_legal_status(self, *, legal_status: LegalStatus, reason: StatusChangeReason, date_of_birth: date,
                            occurred_at: datetime, now: datetime, cohort: Cohort | None = None) -> None:
        """The young person's legal status (and perhaps cohort) is `legal_status` from `occurred_at` on."""
        if self.closed:
            raise CaseAlreadyClosed(f"case {self.id} is closed: reopen it before recording a legal status")
        self._check_dated(occurred_at, now)
        self.reach_18_if_due(date_of_birth, occurred_at)
        if occurred_at < self.status_since:
            raise LegalStatusChangeBeforeLastStatus(
                f"the legal status recorded from {self.status_since.isoformat()} is the latest: a change is dated "
                "on or after it (to correct it, record `corrected` from that day)", field="occurred_at")
        if reason is StatusChangeReason.turned_18:
            raise TurningEighteenIsRecordedByCasetrack(
                "turning 18 is recorded by casetrack itself (AgeReached) from the date of birth", field="reason")
        legal_status = LegalStatus(legal_status)
        age = age_at(date_of_birth, occurred_at)
        cohort = Cohort(cohort) if cohort else cohort_for(legal_status, age, self.cohort)
        check_legal_status(legal_status, cohort, age)
        if (legal_status, cohort) == (self.legal_status, self.cohort):
            raise LegalStatusUnchanged(f"the young person is already {legal_status.value} ({cohort.value})")
        self._record_fact(LegalStatusChanged, occurred_at, legal_status=legal_status,
                          previous_legal_status=self.legal_status, cohort=cohort, reason=reason, age_at_event=age)

    def may_turn_18_by(self, day: date) -> bool:
        """Whether the young person may be counted as 18 by `day` while the case is open (so their date of birth is
        worth reading): under 18 at the last age fact, and `day` on or after the earliest day they can be counted
        as 18 (the first of the month after the earliest their birthday can be)."""
        return not self.closed and self.age < ADULT and day >= earliest_counted_as_18(self.age, self.age_on)

    def reach_18_if_due(self, date_of_birth: date, by: datetime) -> bool:
        """Record AgeReached (18), dated 00:00 UTC on the first day of the month after the 18th birthday
        (`counted_as_18_from`, never the birthday itself: see there), once that day has come by `by` and the young
        person is under 18 at the case's last age fact, while the case is open: a relevant, eligible or
        looked-after child becomes former relevant (a care leaver); a child in need or not looked after a young
        person at risk; any other status is kept. None is needed once the case's age fact is 18 (a status change
        recorded between the birthday and the month's end carries the real age, 18)."""
        if self.closed or self.age >= ADULT:
            return False
        counted_from = counted_as_18_from(date_of_birth)
        if counted_from > by or counted_from.date() <= self.age_on:
            return False
        legal_status = STATUS_AT_18.get(self.legal_status, self.legal_status)
        self._record_fact(AgeReached, counted_from, age=ADULT, legal_status=legal_status,
                          cohort=COHORT_AT_18.get(legal_status, self.cohort))
        return True

    # -- flags -----------------------------------------------------------------------------------

    def raise_flag(self, *, flag: Flag, occurred_at: datetime, now: datetime, dependants: int | None = None) -> None:
        """`flag` applies from `occurred_at` (a teenage parent's dependants: raised again when they change)."""
        flag = Flag(flag)
        if flag is Flag.teenage_parent and dependants is None:
            raise TeenageParentNeedsDependants("a teenage parent flag says how many dependants", field="dependants")
        if flag is not Flag.teenage_parent and dependants is not None:
            raise DependantsOnlyForTeenageParent("only a teenage parent flag has dependants", field="dependants")
        current = self.flags.get(flag)
        if current is not None:
            if current.dependants == dependants:
                raise FlagAlreadyRaised(f"{flag.value} is already raised (since {current.since.isoformat()})")
            self._check_flag_dated(current.since, occurred_at)
        self._change(FlagRaised, occurred_at, now, flag=flag, dependants=dependants)

    def end_flag(self, *, flag: Flag, occurred_at: datetime, now: datetime) -> None:
        flag = Flag(flag)
        if flag not in self.flags:
            raise FlagNotRaised(f"{flag.value} is not raised on case {self.id}")
        self._check_flag_dated(self.flags[flag].since, occurred_at)
        self._change(FlagEnded, occurred_at, now, flag=flag)

    def raise_restricted_flag(self, *, flag: SafeguardingFlag, raised_now: set[SafeguardingFlag],
                              occurred_at: datetime, now: datetime) -> UUID:
        """A safeguarding flag applies from `occurred_at`: its event carries a new flag id, never its kind (the
        kind, and which kinds are `raised_now`, are kept by the referral service beside the case)."""
        if SafeguardingFlag(flag) in raised_now:
            raise FlagAlreadyRaised("that safeguarding flag is already raised")  # its kind named nowhere outside
        flag_id = uuid4()
        self._change(RestrictedFlagRaised, occurred_at, now, flag_id=flag_id)
        return flag_id

    def end_restricted_flag(self, *, flag_id: UUID, occurred_at: datetime, now: datetime) -> None:
        if flag_id not in self.restricted_flags:
            raise FlagNotRaised(f"restricted flag {flag_id} is not raised on case {self.id}")
        self._check_flag_dated(self.restricted_flags[flag_id], occurred_at)
        self._change(RestrictedFlagEnded, occurred_at, now, flag_id=flag_id)

    @staticmethod
    def _check_flag_dated(since: datetime, occurred_at: datetime) -> None:
        if occurred_at < since:
            raise FlagChangeBeforeItWasRaised(
                f"the flag was raised on {since.isoformat()}: a change to it is dated on or after that",
                field="occurred_at")

    # -- homelessness duties ------------------------------------------------------------------------------------

    def start_duty(self, *, duty: Duty, occurred_at: datetime, now: datetime) -> None:
        """A homelessness duty is owed from `occurred_at`: one at a time; relief after prevention ended (the young
        person became homeless) or directly; a main duty only once relief has ended for a main duty decision."""
        duty = Duty(duty)
        if self.eligible is False:
            raise IneligibleCaseOwedNoDuty("the case was decided ineligible: no homelessness duty is owed")
        if self.running_duty is not None:
            running = self.running_duty[0]
            if running is duty:
                raise DutyAlreadyRunning(f"a {duty.value} duty is already running on this case")
            raise DutyStillRunning(f"the {running.value} duty is running: end it before a {duty.value} duty starts")
        last = self.last_duty_ended
        if duty is Duty.main and (last is None or last[0] is not Duty.relief or last[1] not in MAIN_DUTY_FOLLOWS):
            raise MainDutyBeforeReliefEnded(
                "a main duty follows a relief duty that ended with relief_period_ended or main_duty_accepted")
        if last is not None and occurred_at < last[2]:
            raise DutyStartsBeforeLastEnded(
                f"the {last[0].value} duty ended on {last[2].isoformat()}: a duty cannot start before it",
                field="occurred_at")
        self._change(DutyStarted, occurred_at, now, duty=duty)

    def end_duty(self, *, duty: Duty, reason: DutyEndReason, occurred_at: datetime, now: datetime) -> None:
        """The running duty ended, for a reason valid for that duty."""
        duty, reason = Duty(duty), DutyEndReason(reason)
        if self.running_duty is None or self.running_duty[0] is not duty:
            raise DutyNotRunning(f"no {duty.value} duty is running on this case")
        if reason not in END_REASONS[duty]:
            raise EndReasonNotForThisDuty(f"{reason.value} does not end a {duty.value} duty", field="reason")
        started_at = self.running_duty[1]
        if occurred_at < started_at:
            raise DutyEndsBeforeItStarted(f"the {duty.value} duty started on {started_at.isoformat()}",
                                          field="occurred_at")
        if reason is DutyEndReason.relief_period_ended and occurred_at < started_at + RELIEF_PERIOD:
            raise ReliefPeriodNotOver(
                f"the relief duty started on {started_at.date().isoformat()}: its 56 days end on "
                f"{(started_at + RELIEF_PERIOD).date().isoformat()}", field="occurred_at")
        self._change(DutyEnded, occurred_at, now, duty=duty, reason=reason)

    # -- who the young person is ----------------------------------------------------------------

    def link_person(self, *, person_ref: UUID, basis: LinkBasis, occurred_at: datetime, now: datetime) -> None:
        """The young person is `person_ref`, already known from another front door."""
        if person_ref == self.person_ref:
            raise AlreadyThatPerson(f"case {self.id} is already linked to {person_ref}")
        self._check_dated(occurred_at, now)
        self.record(PersonLinked, case_id=self.id, person_ref=person_ref, district=self.district,
                    occurred_at=occurred_at, previous_person_ref=self.person_ref, basis=basis)

    def unlink_person(self, *, occurred_at: datetime, now: datetime) -> None:
        """Undo a link: the young person is the person the case was referred with again."""
        if self.person_ref == self.own_person_ref:
            raise CaseIsNotLinked(f"case {self.id} is not linked to another person")
        self._check_dated(occurred_at, now)
        self.record(PersonUnlinked, case_id=self.id, person_ref=self.own_person_ref, district=self.district,
                    occurred_at=occurred_at, unlinked_from=self.person_ref)

    def flag_possible_match(self, *, candidate_person_ref: UUID, matched_on: list[MatchedDetail],
                            occurred_at: datetime) -> None:
        if candidate_person_ref == self.person_ref or candidate_person_ref in self.possible_matches:
            return
        self._record_fact(PossibleMatchFlagged, occurred_at, candidate_person_ref=candidate_person_ref,
                          matched_on=sorted(set(matched_on)))

    def dismiss_possible_match(self, *, candidate_person_ref: UUID, occurred_at: datetime, now: datetime) -> None:
        if candidate_person_ref not in self.possible_matches:
            raise NoSuchPossibleMatch(f"case {self.id} has no open possible match with {candidate_person_ref}")
        self._check_dated(occurred_at, now)
        self._record_fact(PossibleMatchDismissed, occurred_at, candidate_person_ref=candidate_person_ref)

    def erase_personal_data(self, *, occurred_at: datetime) -> None:
        """Record that the young person's personal details were destroyed (closed cases included)."""
        if not self.personal_data_erased:
            self._record_fact(PersonalDataErased, max(occurred_at, self.last_occurred_at))

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a case cannot apply {event.event_type}")

    @apply.register
    def _(self, event: ReferralMade) -> None:
        self.district = event.district
        self.person_ref = self.own_person_ref = event.person_ref
        self.cohort = event.cohort
        self.referred_at = event.occurred_at
        self.last_occurred_at = event.occurred_at
        self._new_status(event.legal_status, event.cohort, event.occurred_at, event.age_at_event)
        self.flags = {flag: FlagState(event.occurred_at) for flag in event.flags}

    @apply.register
    def _(self, event: EligibilityDecided) -> None:
        self.eligible = event.eligible
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: MediationAttempted) -> None:
        self.mediation_attempts = event.attempt
        self.mediation_in_progress = True
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: MediationConcluded) -> None:
        self.mediation_in_progress = False
        if event.outcome is MediationOutcome.returned_home:
            self.returned_home[event.attempt] = event.occurred_at
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: AssessmentCompleted) -> None:
        self.assessed = True
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: PanelDecisionMade) -> None:
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: CaseClosed) -> None:
        self.closed = True
        self.closed_at = event.occurred_at
        self.mediation_in_progress = False
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: CaseReopened) -> None:
        self.closed = False
        self.personal_data_erased = False  # a re-referral gives the details again
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)
        self._new_status(event.legal_status, event.cohort, event.occurred_at, event.age_at_event)

    @apply.register
    def _(self, event: PersonLinked) -> None:
        self.person_ref = event.person_ref
        self.possible_matches.discard(event.person_ref)

    @apply.register
    def _(self, event: PersonUnlinked) -> None:
        self.person_ref = event.person_ref

    @apply.register
    def _(self, event: PossibleMatchFlagged) -> None:
        self.possible_matches.add(event.candidate_person_ref)

    @apply.register
    def _(self, event: PossibleMatchDismissed) -> None:
        self.possible_matches.discard(event.candidate_person_ref)

    @apply.register
    def _(self, event: PersonalDataErased) -> None:
        self.personal_data_erased = True

    # -- homelessness duties and mediation follow-up: applying ---------------------------------------------------

    @apply.register
    def _(self, event: DutyStarted) -> None:
        self.running_duty = (event.duty, event.occurred_at)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: DutyEnded) -> None:
        self.running_duty = None
        self.last_duty_ended = (event.duty, event.reason, event.occurred_at)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: ReturnHomeFollowedUp) -> None:
        self.return_home_follow_ups.add((event.attempt, event.months_after))


    # -- legal status and age: applying ------------------------------------------------------------

    def _new_status(self, legal_status: LegalStatus, cohort: Cohort, since: datetime, age: int) -> None:
        """A status fact: the latest dated one is the status now (a re-referral may be dated before a turning 18
        already recorded)."""
        if not hasattr(self, "status_since") or since >= self.status_since:
            self.legal_status, self.cohort, self.status_since = legal_status, cohort, since
        if not hasattr(self, "age_on") or since.date() >= self.age_on:
            self.age, self.age_on = age, since.date()

    @apply.register
    def _(self, event: LegalStatusChanged) -> None:
        self._new_status(event.legal_status, event.cohort, event.occurred_at, event.age_at_event)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: AgeReached) -> None:
        self._new_status(event.legal_status, event.cohort, event.occurred_at, event.age)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    # -- flags: applying -----------------------------------------------------------------------------

    @apply.register
    def _(self, event: FlagRaised) -> None:
        self.flags[event.flag] = FlagState(self.flags[event.flag].since if event.flag in self.flags
                                           else event.occurred_at, event.dependants)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: FlagEnded) -> None:
        self.flags.pop(event.flag, None)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: RestrictedFlagRaised) -> None:
        self.restricted_flags[event.flag_id] = event.occurred_at
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: RestrictedFlagEnded) -> None:
        self.restricted_flags.pop(event.flag_id, None)
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)


def age_at(date_of_birth: date, occurred_at: datetime) -> int:
    if date_of_birth > occurred_at.date():
        raise DateOfBirthInTheFuture("the date of birth is after the date of the event")
    age = age_on(date_of_birth, occurred_at.date())
    if not 16 <= age <= 25:
        raise YoungPersonOutsideAgeRange(f"the young person is {age} at the event; casetrack serves ages 16-25")
    return age


def months_later(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months on (the month's last day when it has fewer days)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def check_cohort(cohort: Cohort, age: int) -> None:
    if age not in cohort.ages:
        raise CohortDoesNotMatchAge(
            f"cohort {cohort.value} is for ages {cohort.ages.start}-{cohort.ages.stop - 1}, "
            f"but the young person is {age} at the event"
        )


# -- legal status and age: the rules --------------------------------------------------------------------------

ADULT = 18

STATUS_AT_18: dict[LegalStatus, LegalStatus] = {
    LegalStatus.eligible: LegalStatus.former_relevant,
    LegalStatus.relevant: LegalStatus.former_relevant,
    LegalStatus.looked_after_section_20: LegalStatus.former_relevant,
    LegalStatus.looked_after_care_order: LegalStatus.former_relevant,
    LegalStatus.child_in_need: LegalStatus.not_looked_after,
    LegalStatus.not_looked_after: LegalStatus.not_looked_after,
}
"""The legal status a young person has once counted as 18, by their status the day before (a status not here,
one only an adult can have, is kept)."""
COHORT_AT_18: dict[LegalStatus, Cohort] = {
    LegalStatus.former_relevant: Cohort.care_leaver,
    LegalStatus.not_looked_after: Cohort.young_person_at_risk,
}
"""The cohort once counted as 18, by the status from that day."""


def eighteenth_birthday(date_of_birth: date) -> date:
    """The day the young person turns 18 (born on 29 February: 1 March in a common year, as `age_on` counts it).
    Never an event's date: see `counted_as_18_from`."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + ADULT)
    except ValueError:
        return date(date_of_birth.year + ADULT, 3, 1)


def counted_as_18_from(date_of_birth: date) -> datetime:
    """When turning 18 is published (AgeReached): 00:00 UTC on the first day of the month after the 18th birthday.

    Why the month, not the day: every subscriber of the referral stream reads AgeReached, and its date with its
    age 18 would be the young person's date of birth, which only the vault may hold (ARCHITECTURE.md, decision 10).
    Dated at the first of the next month it reveals at most the month of birth, the precision UK statistical
    returns use. The young person is counted as 16/17 until the end of their birthday month, so a measure of
    16/17 year olds (nights in bed and breakfast) never counts fewer than there were, and relevant becomes former
    relevant on that day too. Ages on other events (`age_at_event`, the real age on the event's day) can still
    narrow the birthday down when events fall either side of it."""
    return datetime.combine(first_of_next_month(eighteenth_birthday(date_of_birth)), time(0), tzinfo=UTC)


def earliest_counted_as_18(age: int, on: date) -> date:
    """The earliest day a young person who was `age` on `on` can be counted as 18: the first of the month after the
    earliest their 18th birthday can be (the day after `on`, 17 - age years on)."""
    years = ADULT - 1 - age
    try:
        later = on.replace(year=on.year + years)
    except ValueError:  # 29 February: the 28th is the earlier
        later = date(on.year + years, 2, 28)
    return first_of_next_month(later + timedelta(days=1))


def first_of_next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def legal_status_given_or_implied(legal_status: LegalStatus | None, cohort: Cohort, age: int) -> LegalStatus:
    """The legal status given, checked against the cohort and age; or, if none was given, the one the cohort
    implies at that age (a care leaver: relevant at 16/17, former relevant from 18)."""
    if legal_status is None:
        if cohort is Cohort.care_leaver:
            return LegalStatus.relevant if age < ADULT else LegalStatus.former_relevant
        return LegalStatus(STATUS_ASSUMED_FOR_COHORT[cohort])
    legal_status = LegalStatus(legal_status)
    check_legal_status(legal_status, cohort, age)
    return legal_status


def cohort_for(legal_status: LegalStatus, age: int, current: Cohort) -> Cohort:
    """The cohort a new status puts the young person in: the current one if the status allows it at that age,
    else the first the status allows at that age."""
    fitting = [cohort for cohort in legal_status.cohorts if age in cohort.ages]
    return current if current in fitting else (fitting or [current])[0]


def check_legal_status(legal_status: LegalStatus, cohort: Cohort, age: int) -> None:
    if age not in legal_status.ages:
        raise LegalStatusDoesNotMatchAge(
            f"legal status {legal_status.value} is for ages {legal_status.ages.start}-{legal_status.ages.stop - 1}, "
            f"but the young person is {age} at the event", field="legal_status")
    if cohort not in legal_status.cohorts:
        raise CohortDoesNotMatchLegalStatus(
            f"a young person who is {legal_status.value} is in the cohort "
            f"{' or '.join(c.value for c in legal_status.cohorts)}, not {cohort.value}", field="cohort")
    check_cohort(cohort, age)


class FlagState:
    """A flag raised now: since when, and (a teenage parent) with how many dependants."""

    __slots__ = ("since", "dependants")

    def __init__(self, since: datetime, dependants: int | None = None):
        self.since, self.dependants = since, dependants


class ReferralRefused(Refused):
    """A referral or case update breaks one of the referral rules."""


class UnknownDistrict(ReferralRefused, NotADistrict):
    """The district code is not one of casetrack's district housing authorities."""


class DistrictNotInForce(ReferralRefused, NotInForce):
    """The district had ended (or not yet begun) on the referral's day: refer to the district in force then."""


class YoungPersonOutsideAgeRange(ReferralRefused):
    """casetrack serves young people aged 16 to 25 at the date of the event."""


class CohortDoesNotMatchAge(ReferralRefused):
    """The cohort given is not possible at the young person's age at the event."""


class DateOfBirthInTheFuture(ReferralRefused):
    """The date of birth is after the date of the event."""


class EventDatedInTheFuture(ReferralRefused):
    """Something cannot be recorded as having happened after now."""


class EventDatedBeforeReferral(ReferralRefused):
    """Nothing can happen on a case before its referral."""


class CaseConflict(Conflict):
    """The change does not fit the case's current state."""


class CaseAlreadyClosed(CaseConflict):
    """A closed case takes no updates until it is reopened."""


class CaseIsNotClosed(CaseConflict):
    """Only a closed case can be reopened."""


class MediationAlreadyInProgress(CaseConflict):
    """A new mediation attempt cannot start before the last one concludes."""


class NoMediationInProgress(CaseConflict):
    """A mediation outcome needs a mediation attempt in progress."""


class PanelDecisionBeforeAssessment(CaseConflict):
    """A panel decides only on an assessed case."""


class AlreadyThatPerson(CaseConflict):
    """The case is already linked to that person."""


class CaseIsNotLinked(CaseConflict):
    """Only a linked case can be unlinked."""


class NoSuchPossibleMatch(CaseConflict):
    """The case has no open possible match with that person."""


# -- homelessness duties: named errors


class IneligibleCaseOwedNoDuty(CaseConflict):
    """A case decided ineligible is owed no homelessness duty (until a new decision finds it eligible)."""


class DutyAlreadyRunning(CaseConflict):
    """A duty of that kind is already running on the case."""


class DutyStillRunning(CaseConflict):
    """Another duty is still running: end it, with its reason, first (a case is not closed with a duty
    running either)."""


class MainDutyBeforeReliefEnded(CaseConflict):
    """A main duty decision comes after the relief duty ends (relief_period_ended, or main_duty_accepted)."""


class DutyNotRunning(CaseConflict):
    """Only a running duty can end."""


class DutyStartsBeforeLastEnded(ReferralRefused):
    """A duty cannot start before the duty before it ended."""


class DutyEndsBeforeItStarted(ReferralRefused):
    """A duty cannot end before it started."""


class EndReasonNotForThisDuty(ReferralRefused):
    """That reason does not end that duty (became_homeless ends prevention only, relief_period_ended relief only,
    ...)."""


class ReliefPeriodNotOver(ReferralRefused):
    """relief_period_ended is recorded only once the relief duty's 56 days have passed."""


# -- mediation follow-up: named errors


class NoReturnHomeToFollowUp(CaseConflict):
    """Only a mediation attempt that ended with the young person returning home is followed up."""


class ReturnHomeAlreadyFollowedUp(CaseConflict):
    """A return home is followed up once at 3 months and once at 6."""


class FollowUpNotAtThreeOrSixMonths(ReferralRefused):
    """A return home is followed up at 3 or 6 months."""


class FollowUpNotYetDue(ReferralRefused):
    """A follow-up is recorded no earlier than its 3 or 6 months less the tolerance allowed."""
# -- legal status and age: errors ----------------------------------------------------------------------------


class LegalStatusDoesNotMatchAge(ReferralRefused):
    """The legal status given is not possible at the young person's age at the event (e.g. former relevant at 17,
    relevant at 18)."""


class CohortDoesNotMatchLegalStatus(ReferralRefused):
    """The cohort given is not one a young person with that legal status can be in."""


class TurningEighteenIsRecordedByCasetrack(ReferralRefused):
    """casetrack records turning 18 itself (AgeReached), from the date of birth: it is not a status change."""


class LegalStatusChangeBeforeLastStatus(CaseConflict):
    """A legal status change is dated on or after the latest status recorded (a correction too)."""


class LegalStatusUnchanged(CaseConflict):
    """The young person already has that legal status and cohort."""


# -- flags: errors -------------------------------------------------------------------------------------------


class TeenageParentNeedsDependants(ReferralRefused):
    """A teenage parent flag says how many dependants the young person has."""


class DependantsOnlyForTeenageParent(ReferralRefused):
    """Only a teenage parent flag has dependants."""


class FlagChangeBeforeItWasRaised(ReferralRefused):
    """A flag ends (or changes) on or after the day it was raised."""


class FlagAlreadyRaised(CaseConflict):
    """The flag is already raised on the case (end it first, or for a teenage parent give new dependants)."""


class FlagNotRaised(CaseConflict):
    """Only a flag raised on the case can end."""
