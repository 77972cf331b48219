"""The Case aggregate's referral rules, without a store."""

from datetime import timedelta

import pytest

from services.referral.domain import (
    CohortDoesNotMatchAge,
    DateOfBirthInTheFuture,
    EventDatedInTheFuture,
    YoungPersonOutsideAgeRange,
)
from shared.contracts.vocabulary import Cohort, Flag, UnknownDistrict

from .builders import REFERRAL_DAY, a_case, at, born, days_after

AGES_EACH_COHORT_IS_FOR = [
    (Cohort.homeless_16_17, 16),
    (Cohort.looked_after_16_17, 17),
    (Cohort.care_leaver, 18),
    (Cohort.care_leaver, 16),  # eligible and relevant children are care leavers at 16/17 [000 slide 22]
    (Cohort.young_person_at_risk, 25),
    (Cohort.young_person_at_risk, 16),  # Kent's young people at risk include 16/17s
]
WRONG_SIDE_OF_EIGHTEEN = [
    (Cohort.homeless_16_17, 18),
    (Cohort.looked_after_16_17, 18),
]


def the_referral(case):
    [event] = case.collect_events()
    return event


def test_the_age_recorded_is_the_age_on_the_referral_date():
    case = a_case(date_of_birth=born(20), cohort=Cohort.care_leaver)

    assert the_referral(case).age_at_event == 20


def test_the_day_before_their_18th_birthday_a_young_person_is_17():
    case = a_case(date_of_birth=born(18, on=days_after(REFERRAL_DAY, 1)), cohort=Cohort.homeless_16_17)

    assert the_referral(case).age_at_event == 17


def test_on_their_18th_birthday_a_young_person_is_18():
    case = a_case(date_of_birth=born(18, on=REFERRAL_DAY), cohort=Cohort.care_leaver)

    assert the_referral(case).age_at_event == 18


@pytest.mark.parametrize(("cohort", "age"), AGES_EACH_COHORT_IS_FOR)
def test_each_cohort_accepts_the_ages_it_is_for(cohort, age):
    case = a_case(date_of_birth=born(age), cohort=cohort)

    assert (case.cohort, the_referral(case).age_at_event) == (cohort, age)


@pytest.mark.parametrize(("cohort", "age"), WRONG_SIDE_OF_EIGHTEEN)
def test_each_cohort_refuses_an_age_it_is_not_for(cohort, age):
    with pytest.raises(CohortDoesNotMatchAge):
        a_case(date_of_birth=born(age), cohort=cohort)


@pytest.mark.parametrize(("age", "cohort"), [(15, Cohort.homeless_16_17), (26, Cohort.care_leaver)])
def test_a_young_person_outside_16_to_25_is_refused(age, cohort):
    with pytest.raises(YoungPersonOutsideAgeRange):
        a_case(date_of_birth=born(age), cohort=cohort)


def test_a_date_of_birth_after_the_referral_is_refused():
    with pytest.raises(DateOfBirthInTheFuture):
        a_case(date_of_birth=days_after(REFERRAL_DAY, 1))


def test_a_referral_dated_after_now_is_refused():
    now = at(REFERRAL_DAY)

    with pytest.raises(EventDatedInTheFuture):
        a_case(now=now, occurred_at=now + timedelta(minutes=1))


def test_an_unknown_district_is_refused():
    with pytest.raises(UnknownDistrict, match="unknown district; known districts"):
        a_case(district="atlantis")


def test_flags_are_recorded_once_each_in_a_stable_order():
    case = a_case(flags=[Flag.rural, Flag.neet, Flag.rural])

    assert the_referral(case).flags == [Flag.neet, Flag.rural]
