"""The Case aggregate: a young person's case from presentation to closure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import singledispatchmethod
from uuid import UUID, uuid4

from shared.aggregate import Aggregate
from shared.contracts import Event
from shared.contracts.referral import (
    STATUS_ASSUMED_FOR_COHORT,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    EligibilityDecided,
    MediationAttempted,
    MediationConcluded,
    PanelDecisionMade,
    PersonalDataErased,
    PersonLinked,
    PersonUnlinked,
    PossibleMatchDismissed,
    PossibleMatchFlagged,
    ReferralMade,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
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
    SupportNeed,
    district_in_force,
)
from shared.contracts.vocabulary import DistrictNotInForce as NotInForce
from shared.contracts.vocabulary import UnknownDistrict as NotADistrict
from shared.errors import Conflict, Refused

PREVENTION_DUTY = timedelta(days=56)


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
    prevention_duty_due_on: date | None = None
    last_occurred_at: datetime
    personal_data_erased: bool = False

    def __init__(self, id: UUID):
        super().__init__(id)
        self.possible_matches: set[UUID] = set()

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
        case = cls(case_id or uuid4())
        case.record(
            ReferralMade,
            case_id=case.id,
            person_ref=person_ref,
            district=district,
            occurred_at=occurred_at,
            gateway=gateway,
            cohort=cohort,
            legal_status=legal_status or STATUS_ASSUMED_FOR_COHORT[cohort],
            age_at_event=age,
            flags=sorted(set(flags)),
            presenting_reason=presenting_reason,
        )
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
        due = (occurred_at + PREVENTION_DUTY).date() if eligible else None
        self._change(EligibilityDecided, occurred_at, now, eligible=eligible, prevention_duty_due_on=due)

    def attempt_mediation(self, *, occurred_at: datetime, now: datetime) -> None:
        if self.mediation_in_progress:
            raise MediationAlreadyInProgress(f"mediation attempt {self.mediation_attempts} has not concluded")
        self._change(MediationAttempted, occurred_at, now, attempt=self.mediation_attempts + 1)

    def conclude_mediation(self, *, outcome: MediationOutcome, occurred_at: datetime, now: datetime) -> None:
        if not self.mediation_in_progress:
            raise NoMediationInProgress("there is no mediation attempt to conclude")
        self._change(MediationConcluded, occurred_at, now, attempt=self.mediation_attempts, outcome=outcome)

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
        self._change(CaseClosed, occurred_at, now, reason=reason)

    def reopen(self, *, presenting_reason: PresentingReason, cohort: Cohort, date_of_birth: date,
               occurred_at: datetime, now: datetime) -> None:
        if not self.closed:
            raise CaseIsNotClosed(f"case {self.id} is open: record the new facts on it instead")
        self._check_dated(occurred_at, now)
        if occurred_at < self.last_occurred_at:
            raise EventDatedBeforeReferral("a re-referral cannot be dated before the case was closed")
        cohort = Cohort(cohort)
        age = age_at(date_of_birth, occurred_at)
        check_cohort(cohort, age)
        self._record_fact(CaseReopened, occurred_at, presenting_reason=presenting_reason, cohort=cohort,
                          legal_status=STATUS_ASSUMED_FOR_COHORT[cohort], age_at_event=age)

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

    @apply.register
    def _(self, event: EligibilityDecided) -> None:
        self.prevention_duty_due_on = event.prevention_duty_due_on
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: MediationAttempted) -> None:
        self.mediation_attempts = event.attempt
        self.mediation_in_progress = True
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: MediationConcluded) -> None:
        self.mediation_in_progress = False
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
        self.mediation_in_progress = False
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

    @apply.register
    def _(self, event: CaseReopened) -> None:
        self.closed = False
        self.cohort = event.cohort
        self.personal_data_erased = False  # a re-referral gives the details again
        self.last_occurred_at = max(self.last_occurred_at, event.occurred_at)

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


def age_at(date_of_birth: date, occurred_at: datetime) -> int:
    if date_of_birth > occurred_at.date():
        raise DateOfBirthInTheFuture("the date of birth is after the date of the event")
    age = age_on(date_of_birth, occurred_at.date())
    if not 16 <= age <= 25:
        raise YoungPersonOutsideAgeRange(f"the young person is {age} at the event; casetrack serves ages 16-25")
    return age


def check_cohort(cohort: Cohort, age: int) -> None:
    if age not in cohort.ages:
        raise CohortDoesNotMatchAge(
            f"cohort {cohort.value} is for ages {cohort.ages.start}-{cohort.ages.stop - 1}, "
            f"but the young person is {age} at the event"
        )


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
