"""A young person's legal status over time, and turning 18: the Case aggregate's rules, without a store."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.referral.domain import (
    Case,
    CaseAlreadyClosed,
    CohortDoesNotMatchAge,
    CohortDoesNotMatchLegalStatus,
    EventDatedBeforeReferral,
    EventDatedInTheFuture,
    LegalStatusChangeBeforeLastStatus,
    LegalStatusDoesNotMatchAge,
    LegalStatusUnchanged,
    TurningEighteenIsRecordedByCasetrack,
    age_on,
    counted_as_18_from,
    earliest_counted_as_18,
    eighteenth_birthday,
)
from shared.contracts.referral import AgeReached, LegalStatusChanged, ReferralMade
from shared.contracts.vocabulary import ClosureReason, Cohort, LegalStatus, StatusChangeReason

from .builders import REFERRAL_DAY, a_case, at, born, days_after

SEVENTEEN = born(17, on=days_after(REFERRAL_DAY, -100))
"""17 on the referral day (their 17th birthday 100 days before it)."""
EIGHTEENTH = SEVENTEEN.replace(year=SEVENTEEN.year + 18)
"""Their 18th birthday, 6 December 2024: in no event."""
COUNTED_AS_18 = date(2025, 1, 1)
"""The first day of the month after it: AgeReached's day."""
NOW = at(days_after(REFERRAL_DAY, 400), hour=18)


def events_of(case) -> list:
    return case.collect_events()


def a_17_year_old(now: datetime = at(REFERRAL_DAY, hour=18), **overrides):
    return a_case(now=now, **({"date_of_birth": SEVENTEEN, "cohort": Cohort.homeless_16_17} | overrides))


def change(case, legal_status, *, on: date, reason=StatusChangeReason.southwark_assessment, now=NOW, **more):
    case.change_legal_status(legal_status=legal_status, reason=reason, date_of_birth=SEVENTEEN,
                             occurred_at=at(on), now=now, **more)


# -- at referral --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cohort", "age", "implied"), [
    (Cohort.care_leaver, 17, LegalStatus.relevant),
    (Cohort.care_leaver, 20, LegalStatus.former_relevant),
    (Cohort.homeless_16_17, 16, LegalStatus.not_looked_after),
    (Cohort.looked_after_16_17, 17, LegalStatus.looked_after_section_20),
    (Cohort.young_person_at_risk, 22, LegalStatus.not_looked_after),
])
def test_a_referral_without_a_legal_status_takes_the_one_its_cohort_implies_at_that_age(cohort, age, implied):
    [referral] = events_of(a_case(date_of_birth=born(age), cohort=cohort))

    assert referral.legal_status is implied


def test_a_referral_records_the_legal_status_given():
    [referral] = events_of(a_case(date_of_birth=born(17), cohort=Cohort.care_leaver,
                                  legal_status=LegalStatus.eligible))

    assert referral.legal_status is LegalStatus.eligible


@pytest.mark.parametrize(("legal_status", "cohort", "age", "error"), [
    (LegalStatus.former_relevant, Cohort.care_leaver, 17, LegalStatusDoesNotMatchAge),
    (LegalStatus.relevant, Cohort.care_leaver, 18, LegalStatusDoesNotMatchAge),
    (LegalStatus.looked_after_section_20, Cohort.care_leaver, 17, CohortDoesNotMatchLegalStatus),
    (LegalStatus.relevant, Cohort.homeless_16_17, 17, CohortDoesNotMatchLegalStatus),
    (LegalStatus.not_looked_after, Cohort.homeless_16_17, 19, CohortDoesNotMatchAge),
], ids=["former relevant at 17", "relevant at 18", "looked after as a care leaver", "relevant but homeless",
        "homeless 16/17 at 19"])
def test_a_referral_with_a_legal_status_impossible_for_its_age_or_cohort_is_refused(legal_status, cohort, age, error):
    with pytest.raises(error):
        a_case(date_of_birth=born(age), cohort=cohort, legal_status=legal_status)


# -- changes over time --------------------------------------------------------------------------------------------


def test_a_southwark_assessment_accommodates_a_homeless_17_year_old_under_section_20():
    case = a_17_year_old()
    events_of(case)

    change(case, LegalStatus.looked_after_section_20, on=days_after(REFERRAL_DAY, 20))

    [changed] = events_of(case)
    assert isinstance(changed, LegalStatusChanged)
    assert (changed.legal_status, changed.previous_legal_status, changed.cohort, changed.age_at_event) == (
        LegalStatus.looked_after_section_20, LegalStatus.not_looked_after, Cohort.looked_after_16_17, 17)
    assert changed.occurred_at == at(days_after(REFERRAL_DAY, 20))
    assert (case.legal_status, case.cohort) == (LegalStatus.looked_after_section_20, Cohort.looked_after_16_17)


def test_a_status_change_keeps_the_cohort_when_the_status_allows_it_and_takes_the_one_given():
    case = a_case(date_of_birth=born(17), cohort=Cohort.looked_after_16_17)
    change(case, LegalStatus.eligible, on=days_after(REFERRAL_DAY, 1), reason=StatusChangeReason.became_eligible)
    assert case.cohort is Cohort.looked_after_16_17

    change(case, LegalStatus.relevant, on=days_after(REFERRAL_DAY, 2), reason=StatusChangeReason.left_care)
    assert case.cohort is Cohort.care_leaver


@pytest.mark.parametrize(("legal_status", "cohort", "error"), [
    (LegalStatus.former_relevant, None, LegalStatusDoesNotMatchAge),
    (LegalStatus.qualifying, None, LegalStatusDoesNotMatchAge),
    (LegalStatus.looked_after_care_order, Cohort.homeless_16_17, CohortDoesNotMatchLegalStatus),
    (LegalStatus.not_looked_after, Cohort.care_leaver, CohortDoesNotMatchLegalStatus),
])
def test_a_status_impossible_at_that_age_or_in_that_cohort_is_refused(legal_status, cohort, error):
    case = a_17_year_old()

    with pytest.raises(error):
        change(case, legal_status, on=days_after(REFERRAL_DAY, 5), cohort=cohort)


def test_the_same_status_and_cohort_again_is_refused():
    with pytest.raises(LegalStatusUnchanged):
        change(a_17_year_old(), LegalStatus.not_looked_after, on=days_after(REFERRAL_DAY, 5),
               reason=StatusChangeReason.corrected)


def test_a_status_change_dated_before_the_referral_in_the_future_or_before_the_last_status_is_refused():
    case = a_17_year_old()
    with pytest.raises(EventDatedBeforeReferral):
        change(case, LegalStatus.child_in_need, on=days_after(REFERRAL_DAY, -1))
    with pytest.raises(EventDatedInTheFuture):
        change(case, LegalStatus.child_in_need, on=days_after(REFERRAL_DAY, 5), now=at(REFERRAL_DAY, hour=18))
    change(case, LegalStatus.looked_after_section_20, on=days_after(REFERRAL_DAY, 30))
    with pytest.raises(LegalStatusChangeBeforeLastStatus):
        change(case, LegalStatus.child_in_need, on=days_after(REFERRAL_DAY, 10))


def test_turning_18_is_not_a_status_change_a_case_worker_records():
    with pytest.raises(TurningEighteenIsRecordedByCasetrack):
        change(a_17_year_old(), LegalStatus.child_in_need, on=days_after(REFERRAL_DAY, 5),
               reason=StatusChangeReason.turned_18)


def test_no_status_change_on_a_closed_case():
    case = a_17_year_old()
    case.close(reason=ClosureReason.disengaged, occurred_at=at(days_after(REFERRAL_DAY, 3)), now=NOW)

    with pytest.raises(CaseAlreadyClosed):
        change(case, LegalStatus.child_in_need, on=days_after(REFERRAL_DAY, 5))


# -- turning 18 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "cohort", "after", "cohort_after"), [
    (LegalStatus.relevant, Cohort.care_leaver, LegalStatus.former_relevant, Cohort.care_leaver),
    (LegalStatus.eligible, Cohort.care_leaver, LegalStatus.former_relevant, Cohort.care_leaver),
    (LegalStatus.looked_after_section_20, Cohort.looked_after_16_17, LegalStatus.former_relevant,
     Cohort.care_leaver),
    (LegalStatus.looked_after_care_order, Cohort.looked_after_16_17, LegalStatus.former_relevant,
     Cohort.care_leaver),
    (LegalStatus.not_looked_after, Cohort.homeless_16_17, LegalStatus.not_looked_after,
     Cohort.young_person_at_risk),
    (LegalStatus.child_in_need, Cohort.homeless_16_17, LegalStatus.not_looked_after, Cohort.young_person_at_risk),
])
def test_at_18_the_status_and_cohort_become_those_of_an_adult(before, cohort, after, cohort_after):
    case = a_17_year_old(legal_status=before, cohort=cohort)
    events_of(case)

    assert case.reach_18_if_due(SEVENTEEN, at(days_after(COUNTED_AS_18, 3)))

    [reached] = events_of(case)
    assert isinstance(reached, AgeReached)
    assert (reached.age, reached.legal_status, reached.cohort) == (18, after, cohort_after)
    assert reached.occurred_at == midnight(COUNTED_AS_18)
    assert (case.age, case.legal_status, case.cohort) == (18, after, cohort_after)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def test_turning_18_is_dated_the_first_of_the_month_after_the_birthday_never_the_birthday():
    assert EIGHTEENTH == date(2024, 12, 6)
    assert counted_as_18_from(SEVENTEEN) == midnight(COUNTED_AS_18)
    assert counted_as_18_from(date(2008, 3, 10)) == datetime(2026, 4, 1, tzinfo=UTC)
    assert counted_as_18_from(date(2008, 3, 1)) == datetime(2026, 4, 1, tzinfo=UTC)
    assert counted_as_18_from(date(2008, 3, 31)) == datetime(2026, 4, 1, tzinfo=UTC)


def test_age_reached_is_recorded_once_and_not_before_the_first_of_the_month_after_the_birthday():
    case = a_17_year_old()
    events_of(case)

    assert not case.reach_18_if_due(SEVENTEEN, midnight(EIGHTEENTH))
    assert not case.reach_18_if_due(SEVENTEEN, at(days_after(EIGHTEENTH, 5)))
    assert not case.reach_18_if_due(SEVENTEEN, midnight(COUNTED_AS_18) - timedelta(hours=1))  # 23:00 the day before
    assert case.reach_18_if_due(SEVENTEEN, midnight(COUNTED_AS_18))
    assert not case.reach_18_if_due(SEVENTEEN, at(days_after(COUNTED_AS_18, 5)))
    assert len(events_of(case)) == 1


def test_no_event_is_dated_the_18th_birthday_of_a_young_person_who_turns_18_during_the_case():
    born_on_the_10th = date(2006, 11, 10)  # 18 on 10 November 2024, counted as 18 from 1 December 2024
    case = a_case(date_of_birth=born_on_the_10th, cohort=Cohort.care_leaver)  # referred at 17 on 15 March 2024
    for day in (date(2024, 11, 1) + timedelta(days=n) for n in range(40)):  # the sweep, at midnight and noon
        for hour in (0, 12):
            case.reach_18_if_due(born_on_the_10th, at(day, hour))

    history = events_of(case)
    [reached] = [event for event in history if isinstance(event, AgeReached)]
    assert reached.occurred_at == datetime(2024, 12, 1, tzinfo=UTC)
    assert date(2024, 11, 10) not in {event.occurred_at.date() for event in history}


def test_a_referral_back_dated_before_the_day_counted_as_18_already_come_records_age_reached_with_it():
    case = a_17_year_old(now=NOW)

    referral, reached = events_of(case)
    assert isinstance(referral, ReferralMade) and isinstance(reached, AgeReached)
    assert (referral.age_at_event, reached.age, reached.occurred_at.date()) == (17, 18, COUNTED_AS_18)


def test_a_status_change_dated_on_or_after_the_day_counted_as_18_is_preceded_by_age_reached():
    case = a_17_year_old()
    events_of(case)

    change(case, LegalStatus.former_relevant, cohort=Cohort.care_leaver, on=days_after(COUNTED_AS_18, 2),
           reason=StatusChangeReason.corrected)

    reached, changed = events_of(case)
    assert isinstance(reached, AgeReached) and isinstance(changed, LegalStatusChanged)
    assert reached.occurred_at == midnight(COUNTED_AS_18)
    assert (changed.previous_legal_status, changed.age_at_event) == (LegalStatus.not_looked_after, 18)


def test_a_status_change_between_the_birthday_and_the_months_end_carries_the_real_age_and_needs_no_age_reached():
    case = a_17_year_old(legal_status=LegalStatus.relevant, cohort=Cohort.care_leaver)
    events_of(case)

    change(case, LegalStatus.former_relevant, on=days_after(EIGHTEENTH, 3), reason=StatusChangeReason.corrected)

    [changed] = events_of(case)
    assert isinstance(changed, LegalStatusChanged) and changed.age_at_event == 18
    assert (case.age, case.legal_status) == (18, LegalStatus.former_relevant)
    assert not case.may_turn_18_by(days_after(COUNTED_AS_18, 30))
    assert not case.reach_18_if_due(SEVENTEEN, NOW)
    change(case, LegalStatus.qualifying, on=days_after(COUNTED_AS_18, 2), reason=StatusChangeReason.corrected)
    assert [type(event) for event in events_of(case)] == [LegalStatusChanged]


def test_turning_18_keeps_a_status_no_rule_moves_at_18():
    """A history in which a status only an adult can have came with an age under 18 (as a stored event from an
    earlier rule might): AgeReached keeps that status rather than failing the sweep."""
    made, = events_of(a_17_year_old(legal_status=LegalStatus.relevant, cohort=Cohort.care_leaver))
    envelope = made.model_dump(include={"aggregate_id", "case_id", "person_ref", "district"})
    odd = LegalStatusChanged(**envelope, aggregate_version=made.aggregate_version + 1,
                             occurred_at=at(days_after(REFERRAL_DAY, 5)), legal_status=LegalStatus.qualifying,
                             previous_legal_status=LegalStatus.relevant, cohort=Cohort.care_leaver,
                             reason=StatusChangeReason.corrected, age_at_event=17)
    case = Case.from_history([made, odd])

    assert case.reach_18_if_due(SEVENTEEN, NOW)

    [reached] = events_of(case)
    assert (reached.legal_status, reached.cohort, reached.occurred_at) == (
        LegalStatus.qualifying, Cohort.care_leaver, midnight(COUNTED_AS_18))


def test_no_age_reached_on_a_closed_case():
    case = a_17_year_old()
    case.close(reason=ClosureReason.disengaged, occurred_at=at(days_after(REFERRAL_DAY, 3)), now=NOW)

    assert not case.reach_18_if_due(SEVENTEEN, NOW)


def test_the_earliest_day_counted_as_18_is_the_first_of_the_month_after_the_earliest_birthday():
    assert earliest_counted_as_18(17, date(2024, 3, 15)) == date(2024, 4, 1)  # birthday 16 March 2024 at the earliest
    assert earliest_counted_as_18(17, date(2024, 3, 31)) == date(2024, 5, 1)  # 1 April 2024 at the earliest
    assert earliest_counted_as_18(16, date(2024, 3, 15)) == date(2025, 4, 1)
    assert earliest_counted_as_18(16, date(2024, 2, 29)) == date(2025, 4, 1)  # 1 March 2025 at the earliest
    assert earliest_counted_as_18(17, date(2024, 12, 31)) == date(2025, 2, 1)


@pytest.mark.parametrize("on", [date(2024, 3, 15), date(2024, 2, 29), date(2024, 1, 31), date(2024, 12, 31)])
def test_no_young_person_is_counted_as_18_before_the_earliest_day_their_age_allows(on):
    """The sweep's candidates (case_ages) never leave out a case that is due: for every date of birth of a 16 or
    17 year old on `on`, the day counted as 18 is on or after the earliest day their age allows, and for some it is
    that day."""
    dates_of_birth = [on.replace(day=1) - timedelta(days=n) for n in range(16 * 365, 18 * 365 + 5)]
    gaps = {(counted_as_18_from(born_on).date() - earliest_counted_as_18(age_on(born_on, on), on)).days
            for born_on in dates_of_birth if age_on(born_on, on) in (16, 17)}

    assert min(gaps) == 0


def test_a_case_may_turn_18_only_from_the_earliest_day_its_age_allows():
    case = a_case(date_of_birth=born(16, on=REFERRAL_DAY), cohort=Cohort.homeless_16_17)  # 18 on 15 March 2026

    assert not case.may_turn_18_by(date(2025, 3, 31))
    assert case.may_turn_18_by(date(2025, 4, 1))  # a birthday on 16 March 2025 is possible from the age alone
    assert not a_case().may_turn_18_by(days_after(REFERRAL_DAY, 3000))  # 20 already


def test_someone_born_on_29_february_turns_18_on_1_march_in_a_common_year_and_counts_as_18_from_1_april():
    assert eighteenth_birthday(date(2008, 2, 29)) == date(2026, 3, 1)
    assert counted_as_18_from(date(2008, 2, 29)) == datetime(2026, 4, 1, tzinfo=UTC)
    assert eighteenth_birthday(date(2008, 3, 14)) == date(2026, 3, 14)


def test_a_case_stored_under_schema_1_replays_with_the_legal_status_its_cohort_implied():
    from shared.contracts import parse_event

    [made] = events_of(a_case(date_of_birth=born(19), cohort=Cohort.care_leaver))
    version_1 = made.model_dump(mode="json", exclude={"legal_status"}) | {"schema_version": 1}

    case = Case.from_history([parse_event(version_1)])

    assert (case.legal_status, case.cohort, case.age) == (LegalStatus.former_relevant, Cohort.care_leaver, 19)
    assert not case.may_turn_18_by(NOW.date())
