"""Legal status, turning 18 and flags through the referral handlers, on PostgreSQL (the vault holds the date of
birth; the safeguarding table holds which restricted flag a case carries)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.referral import handlers
from services.referral.domain import (
    Case,
    EventDatedInTheFuture,
    FlagAlreadyRaised,
    FlagNotRaised,
    LegalStatusDoesNotMatchAge,
    PersonalDataNeeded,
)
from shared.contracts import parse_event
from shared.contracts.vocabulary import Cohort, Flag, LegalStatus, SafeguardingFlag, StatusChangeReason

from .builders import a_context, a_referral, a_young_person

TODAY = datetime.now(UTC).date()
COUNTED_AS_18 = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
"""The first day of last month: from it the young people referred here at 17 are counted as 18 (AgeReached)."""
BIRTHDAY = (COUNTED_AS_18 - timedelta(days=1)).replace(day=10)
"""Their 18th birthday: the 10th of the month before that (the date of no event)."""


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def midnight(day: date) -> datetime:
    return at(day, 0)


def born_18_years_before(day: date) -> date:
    return day.replace(year=day.year - 18) if (day.month, day.day) != (2, 29) else date(day.year - 18, 3, 1)


@pytest.fixture
def store(referrals_store):
    return referrals_store


def a_case_referred_before_the_birthday(store, referred_on: date = BIRTHDAY - timedelta(days=60),
                                        birthday: date = BIRTHDAY, **overrides):
    """A 17-year-old's case as it was saved on `referred_on` (before their 18th `birthday`: no AgeReached yet)."""
    person = a_young_person(date_of_birth=born_18_years_before(birthday))
    facts = a_referral(cohort=Cohort.care_leaver, legal_status=LegalStatus.relevant, flags=[],
                       date_of_birth=person.date_of_birth, occurred_at=at(referred_on)) | overrides
    case = Case.make_referral(person_ref=uuid4(), now=at(referred_on, 18), **facts)
    store.record(a_context(), case, also_write=store.vault.keep_details(case.id, case.person_ref, person,
                                                                        new_person=True))
    return case, person


def events_of(store, case_id) -> list:
    return list(store.events.get(case_id))


def types_of(store, case_id) -> list[str]:
    return [event.event_type for event in events_of(store, case_id)]


def test_a_status_change_records_the_age_on_its_day_from_the_vault_and_no_date_of_birth(store):
    case, person = a_case_referred_before_the_birthday(store, cohort=Cohort.looked_after_16_17,
                                                       legal_status=LegalStatus.looked_after_section_20)

    handlers.handle(store, handlers.ChangeLegalStatus(
        case_id=case.id, legal_status=LegalStatus.relevant, reason=StatusChangeReason.left_care,
        occurred_at=at(BIRTHDAY - timedelta(days=5))), a_context())

    changed = events_of(store, case.id)[-1]
    assert (changed.event_type, changed.age_at_event, changed.cohort) == ("LegalStatusChanged", 17, Cohort.care_leaver)
    stored = store.recorder.select_notifications(1, 10)[-1].state.decode()
    assert person.date_of_birth.isoformat() not in stored and "date_of_birth" not in stored


def test_a_status_impossible_at_the_age_on_its_day_is_refused_and_nothing_is_saved(store):
    case, _ = a_case_referred_before_the_birthday(store)
    position = store.position()

    with pytest.raises(LegalStatusDoesNotMatchAge):
        handlers.handle(store, handlers.ChangeLegalStatus(
            case_id=case.id, legal_status=LegalStatus.former_relevant, reason=StatusChangeReason.corrected,
            occurred_at=at(BIRTHDAY - timedelta(days=1))), a_context())

    assert store.position() == position


def test_a_change_dated_on_or_after_the_first_of_the_month_after_the_birthday_records_age_reached_first(store):
    case, _ = a_case_referred_before_the_birthday(store)

    handlers.handle(store, handlers.DecideEligibility(case_id=case.id, eligible=True,
                                                      occurred_at=at(COUNTED_AS_18 + timedelta(days=2))), a_context())

    assert types_of(store, case.id) == ["ReferralMade", "AgeReached", "EligibilityDecided"]
    reached = events_of(store, case.id)[1]
    assert (reached.age, reached.legal_status, reached.cohort) == (18, LegalStatus.former_relevant,
                                                                   Cohort.care_leaver)
    assert reached.occurred_at == midnight(COUNTED_AS_18)


@pytest.mark.parametrize("days_after_the_birthday", [-1, 0, 2])
def test_a_change_dated_before_the_month_after_the_birthday_records_no_age_reached(store, days_after_the_birthday):
    case, _ = a_case_referred_before_the_birthday(store)

    handlers.handle(store, handlers.RaiseFlag(case_id=case.id, flag=Flag.in_education, occurred_at=at(
        BIRTHDAY + timedelta(days=days_after_the_birthday))), a_context())

    assert types_of(store, case.id) == ["ReferralMade", "FlagRaised"]


def test_former_relevant_recorded_between_the_birthday_and_the_months_end_is_18_and_needs_no_age_reached(store):
    case, _ = a_case_referred_before_the_birthday(store)

    handlers.handle(store, handlers.ChangeLegalStatus(
        case_id=case.id, legal_status=LegalStatus.former_relevant, reason=StatusChangeReason.corrected,
        occurred_at=at(BIRTHDAY + timedelta(days=3))), a_context())
    swept, _ = store.record_birthdays(a_context(), on=TODAY)
    handlers.handle(store, handlers.DecideEligibility(case_id=case.id, eligible=True, occurred_at=at(TODAY, 0)),
                    a_context())

    changed = events_of(store, case.id)[1]
    assert (changed.legal_status, changed.age_at_event) == (LegalStatus.former_relevant, 18)
    assert swept == []
    assert types_of(store, case.id) == ["ReferralMade", "LegalStatusChanged", "EligibilityDecided"]


def test_the_birthday_sweep_records_age_reached_once_on_each_open_case_counted_as_18(store):
    turned, _ = a_case_referred_before_the_birthday(store)
    adult = Case.make_referral(person_ref=uuid4(), now=at(TODAY, 0), **a_referral())  # 20 already
    store.record(a_context(), adult)

    cases, _ = store.record_birthdays(a_context(), on=TODAY)
    again, _ = store.record_birthdays(a_context(), on=TODAY)

    assert (cases, again) == ([turned.id], [])
    assert types_of(store, turned.id) == ["ReferralMade", "AgeReached"]
    assert events_of(store, turned.id)[1].occurred_at == midnight(COUNTED_AS_18)
    assert types_of(store, adult.id) == ["ReferralMade"]


def test_the_sweep_records_age_reached_from_the_first_of_the_month_after_the_birthday_and_not_in_the_future(store):
    case, _ = a_case_referred_before_the_birthday(store)
    this_month, _ = a_case_referred_before_the_birthday(store, birthday=TODAY.replace(day=1))

    assert store.record_birthdays(a_context(), on=BIRTHDAY)[0] == []
    assert store.record_birthdays(a_context(), on=COUNTED_AS_18 - timedelta(days=1))[0] == []
    assert store.record_birthdays(a_context(), on=COUNTED_AS_18)[0] == [case.id]
    assert store.record_birthdays(a_context(), on=TODAY)[0] == []  # 18 this month: counted from the next
    assert "AgeReached" not in types_of(store, this_month.id)
    with pytest.raises(EventDatedInTheFuture):
        store.record_birthdays(a_context(), on=TODAY + timedelta(days=1))


def test_an_erased_young_person_has_no_age_reached_and_no_status_change(store):
    case, _ = a_case_referred_before_the_birthday(store)
    handlers.handle(store, handlers.ErasePersonalData(person_ref=case.person_ref), a_context())

    assert store.record_birthdays(a_context(), on=TODAY)[0] == []
    with pytest.raises(PersonalDataNeeded):
        handlers.handle(store, handlers.ChangeLegalStatus(
            case_id=case.id, legal_status=LegalStatus.relevant, reason=StatusChangeReason.corrected,
            occurred_at=at(TODAY)), a_context())
    assert "AgeReached" not in types_of(store, case.id)


def test_a_referral_back_dated_before_a_passed_birthday_is_saved_with_its_age_reached(store):
    facts = a_referral(cohort=Cohort.care_leaver, flags=[], date_of_birth=born_18_years_before(BIRTHDAY),
                       occurred_at=at(BIRTHDAY - timedelta(days=60)))
    facts["young_person"] = a_young_person(date_of_birth=facts.pop("date_of_birth"))

    case, _ = store.make_referral(a_context(), **facts)

    assert types_of(store, case.id) == ["ReferralMade", "AgeReached"]
    assert events_of(store, case.id)[0].legal_status is LegalStatus.relevant  # implied for a 17-year-old
    assert events_of(store, case.id)[1].occurred_at == midnight(COUNTED_AS_18)


def test_a_safeguarding_flag_kind_is_kept_beside_the_case_never_in_its_event(store):
    case, _ = a_case_referred_before_the_birthday(store)

    handlers.handle(store, handlers.RaiseFlag(case_id=case.id, flag=SafeguardingFlag.missing_episodes,
                                              occurred_at=at(BIRTHDAY - timedelta(days=40))), a_context())

    [row] = store.safeguarding.of_case(case.id)
    [notification] = store.recorder.select_notifications(1, 10, topics=["RestrictedFlagRaised"])
    event = parse_event(notification.state)
    assert (row["flag"], row["flag_id"], row["ended_at"]) == ("missing_episodes", event.flag_id, None)
    assert "missing_episodes" not in notification.state.decode()


def test_a_safeguarding_flag_ends_by_its_kind_and_is_not_raised_twice(store):
    case, _ = a_case_referred_before_the_birthday(store)
    raise_marac = handlers.RaiseFlag(case_id=case.id, flag=SafeguardingFlag.marac,
                                     occurred_at=at(BIRTHDAY - timedelta(days=40)))
    handlers.handle(store, raise_marac, a_context())
    position = store.position()

    with pytest.raises(FlagAlreadyRaised):
        handlers.handle(store, raise_marac, a_context())
    with pytest.raises(FlagNotRaised):
        handlers.handle(store, handlers.EndFlag(case_id=case.id, flag=SafeguardingFlag.mappa,
                                                occurred_at=at(BIRTHDAY - timedelta(days=30))), a_context())
    assert store.position() == position and len(store.safeguarding.of_case(case.id)) == 1

    handlers.handle(store, handlers.EndFlag(case_id=case.id, flag=SafeguardingFlag.marac,
                                            occurred_at=at(BIRTHDAY - timedelta(days=30))), a_context())

    [row] = store.safeguarding.of_case(case.id)
    assert row["ended_at"] == at(BIRTHDAY - timedelta(days=30))
    assert types_of(store, case.id)[-1] == "RestrictedFlagEnded"
    assert store.safeguarding.raised_now(case.id) == {}
