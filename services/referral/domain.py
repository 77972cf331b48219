"""The Case aggregate: a young person's case from presentation to closure."""

from __future__ import annotations

from datetime import date, datetime
from functools import singledispatchmethod
from uuid import UUID, uuid4

from shared.contracts import Event
from shared.contracts.referral import ReferralMade
from shared.contracts.vocabulary import Cohort, Flag, Gateway, PresentingReason, known_district
from shared.eventstore import Aggregate


def age_on(date_of_birth: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


class Case(Aggregate):
    """A young person's case: referral, prevention, assessment, panel decision and closure."""

    district: str
    person_ref: UUID
    cohort: Cohort
    referred_at: datetime

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
    ) -> Case:
        known_district(district)
        cohort = Cohort(cohort)
        if occurred_at > now:
            raise EventDatedInTheFuture(f"the referral is dated {occurred_at.isoformat()}, after now")
        if date_of_birth > occurred_at.date():
            raise DateOfBirthInTheFuture("the date of birth is after the referral date")
        age = age_on(date_of_birth, occurred_at.date())
        if not 16 <= age <= 25:
            raise YoungPersonOutsideAgeRange(f"the young person is {age} at referral; casetrack serves ages 16-25")
        if age not in cohort.ages:
            raise CohortDoesNotMatchAge(
                f"cohort {cohort.value} is for ages {cohort.ages.start}-{cohort.ages.stop - 1}, "
                f"but the young person is {age} at referral"
            )
        case = cls(uuid4())
        case.record(
            ReferralMade,
            case_id=case.id,
            person_ref=person_ref,
            district=district,
            occurred_at=occurred_at,
            gateway=gateway,
            cohort=cohort,
            age_at_event=age,
            flags=sorted(set(flags)),
            presenting_reason=presenting_reason,
        )
        return case

    @singledispatchmethod
    def apply(self, event: Event) -> None:
        raise NotImplementedError(f"a case cannot apply {event.event_type}")

    @apply.register
    def _(self, event: ReferralMade) -> None:
        self.district = event.district
        self.person_ref = event.person_ref
        self.cohort = event.cohort
        self.referred_at = event.occurred_at


class ReferralRefused(ValueError):
    """A referral or case update breaks one of the referral rules."""


class YoungPersonOutsideAgeRange(ReferralRefused):
    """casetrack serves young people aged 16 to 25 at the date of the event."""


class CohortDoesNotMatchAge(ReferralRefused):
    """The cohort given is not possible at the young person's age at the event."""


class DateOfBirthInTheFuture(ReferralRefused):
    """The date of birth is after the date of the event."""


class EventDatedInTheFuture(ReferralRefused):
    """Something cannot be recorded as having happened after now."""
