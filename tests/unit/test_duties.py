"""Homelessness duties on a case (prevention s195, relief s189B, main s193), and the follow-up of a return home
after mediation: the rules each keeps, and EligibilityDecided schema 1 read through its upcaster."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.referral.domain import (
    END_REASONS,
    Case,
    CaseAlreadyClosed,
    DutyAlreadyRunning,
    DutyEndsBeforeItStarted,
    DutyNotRunning,
    DutyStartsBeforeLastEnded,
    DutyStillRunning,
    EndReasonNotForThisDuty,
    EventDatedBeforeReferral,
    EventDatedInTheFuture,
    FollowUpNotYetDue,
    IneligibleCaseOwedNoDuty,
    MainDutyBeforeReliefEnded,
    NoReturnHomeToFollowUp,
    ReliefPeriodNotOver,
    ReturnHomeAlreadyFollowedUp,
)
from services.referral.domain.case import months_later
from shared.contracts import parse_event
from shared.contracts.referral import EligibilityDecided
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Duty,
    DutyEndReason,
    Gateway,
    MediationOutcome,
    PresentingReason,
)
from shared.errors import Conflict, Refused

REFERRED = datetime(2026, 1, 5, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def days(n: int) -> datetime:
    return REFERRED + timedelta(days=n)


def a_case() -> Case:
    case = Case.make_referral(person_ref=uuid4(), district="swale", gateway=Gateway.district_housing_options,
                              cohort=Cohort.homeless_16_17, date_of_birth=date(2009, 6, 1),
                              presenting_reason=PresentingReason.parental_eviction, flags=[],
                              occurred_at=REFERRED, now=NOW)
    case.collect_events()
    return case


def with_relief_ended(reason: DutyEndReason = DutyEndReason.relief_period_ended) -> Case:
    case = a_case()
    case.start_duty(duty=Duty.relief, occurred_at=days(1), now=NOW)
    case.end_duty(duty=Duty.relief, reason=reason, occurred_at=days(57), now=NOW)
    return case


# -- homelessness duties


def test_prevention_then_relief_when_the_young_person_becomes_homeless_then_a_main_duty():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    case.end_duty(duty=Duty.prevention, reason=DutyEndReason.became_homeless, occurred_at=days(70), now=NOW)
    case.start_duty(duty=Duty.relief, occurred_at=days(70), now=NOW)
    case.end_duty(duty=Duty.relief, reason=DutyEndReason.relief_period_ended, occurred_at=days(126), now=NOW)
    case.start_duty(duty=Duty.main, occurred_at=days(130), now=NOW)

    events = case.collect_events()
    assert [(e.event_type, e.duty, getattr(e, "reason", None)) for e in events] == [
        ("DutyStarted", Duty.prevention, None), ("DutyEnded", Duty.prevention, DutyEndReason.became_homeless),
        ("DutyStarted", Duty.relief, None), ("DutyEnded", Duty.relief, DutyEndReason.relief_period_ended),
        ("DutyStarted", Duty.main, None)]
    assert case.running_duty == (Duty.main, days(130))


def test_a_prevention_duty_may_run_past_56_days():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    case.end_duty(duty=Duty.prevention, reason=DutyEndReason.accommodation_secured, occurred_at=days(120), now=NOW)
    assert case.last_duty_ended == (Duty.prevention, DutyEndReason.accommodation_secured, days(120))


def test_relief_may_start_directly_and_a_main_duty_may_be_accepted_before_its_56_days():
    case = a_case()
    case.start_duty(duty=Duty.relief, occurred_at=days(1), now=NOW)
    case.end_duty(duty=Duty.relief, reason=DutyEndReason.main_duty_accepted, occurred_at=days(20), now=NOW)
    case.start_duty(duty=Duty.main, occurred_at=days(20), now=NOW)
    assert case.running_duty == (Duty.main, days(20))


def test_one_duty_at_a_time():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    with pytest.raises(DutyAlreadyRunning):
        case.start_duty(duty=Duty.prevention, occurred_at=days(2), now=NOW)
    with pytest.raises(DutyStillRunning):
        case.start_duty(duty=Duty.relief, occurred_at=days(2), now=NOW)
    assert issubclass(DutyAlreadyRunning, Conflict) and issubclass(DutyStillRunning, Conflict)


@pytest.mark.parametrize("before", [None, DutyEndReason.main_duty_not_owed, DutyEndReason.accommodation_secured])
def test_a_main_duty_only_follows_a_relief_duty_ended_for_a_main_duty_decision(before):
    case = with_relief_ended(before) if before else a_case()
    with pytest.raises(MainDutyBeforeReliefEnded):
        case.start_duty(duty=Duty.main, occurred_at=days(60), now=NOW)


def test_a_main_duty_does_not_follow_a_prevention_duty():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    case.end_duty(duty=Duty.prevention, reason=DutyEndReason.became_homeless, occurred_at=days(3), now=NOW)
    with pytest.raises(MainDutyBeforeReliefEnded):
        case.start_duty(duty=Duty.main, occurred_at=days(4), now=NOW)


def test_relief_ends_for_its_period_only_after_56_days():
    case = a_case()
    case.start_duty(duty=Duty.relief, occurred_at=days(1), now=NOW)
    with pytest.raises(ReliefPeriodNotOver) as refused:
        case.end_duty(duty=Duty.relief, reason=DutyEndReason.relief_period_ended, occurred_at=days(56), now=NOW)
    assert refused.value.field == "occurred_at" and isinstance(refused.value, Refused)
    case.end_duty(duty=Duty.relief, reason=DutyEndReason.relief_period_ended, occurred_at=days(57), now=NOW)


@pytest.mark.parametrize(("duty", "reason"), [
    (Duty.relief, DutyEndReason.became_homeless), (Duty.main, DutyEndReason.became_homeless),
    (Duty.prevention, DutyEndReason.relief_period_ended), (Duty.main, DutyEndReason.relief_period_ended),
    (Duty.prevention, DutyEndReason.main_duty_accepted), (Duty.prevention, DutyEndReason.intentionally_homeless)])
def test_an_end_reason_must_be_one_that_ends_that_duty(duty, reason):
    case = a_case()
    if duty is Duty.main:
        case = with_relief_ended()
    case.start_duty(duty=duty, occurred_at=days(60), now=NOW)
    with pytest.raises(EndReasonNotForThisDuty) as refused:
        case.end_duty(duty=duty, reason=reason, occurred_at=days(200), now=NOW)
    assert refused.value.field == "reason"


def test_became_homeless_ends_prevention_only_and_relief_period_ended_relief_only():
    holders = {reason: {duty for duty, reasons in END_REASONS.items() if reason in reasons} for reason in DutyEndReason}
    assert holders[DutyEndReason.became_homeless] == {Duty.prevention}
    assert holders[DutyEndReason.relief_period_ended] == {Duty.relief}


def test_only_a_running_duty_ends():
    case = a_case()
    with pytest.raises(DutyNotRunning):
        case.end_duty(duty=Duty.prevention, reason=DutyEndReason.other, occurred_at=days(2), now=NOW)
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    with pytest.raises(DutyNotRunning):
        case.end_duty(duty=Duty.relief, reason=DutyEndReason.other, occurred_at=days(2), now=NOW)


def test_a_duty_is_dated_within_the_case_and_in_order():
    case = a_case()
    with pytest.raises(EventDatedBeforeReferral):
        case.start_duty(duty=Duty.prevention, occurred_at=days(-1), now=NOW)
    with pytest.raises(EventDatedInTheFuture):
        case.start_duty(duty=Duty.prevention, occurred_at=NOW + timedelta(hours=1), now=NOW)
    case.start_duty(duty=Duty.prevention, occurred_at=days(10), now=NOW)
    with pytest.raises(DutyEndsBeforeItStarted):
        case.end_duty(duty=Duty.prevention, reason=DutyEndReason.became_homeless, occurred_at=days(9), now=NOW)
    case.end_duty(duty=Duty.prevention, reason=DutyEndReason.became_homeless, occurred_at=days(20), now=NOW)
    with pytest.raises(DutyStartsBeforeLastEnded):
        case.start_duty(duty=Duty.relief, occurred_at=days(19), now=NOW)
    assert case.collect_events()[-1].event_type == "DutyEnded"


def test_an_ineligible_case_is_owed_no_duty_until_decided_eligible():
    case = a_case()
    case.decide_eligibility(eligible=False, occurred_at=days(1), now=NOW)
    with pytest.raises(IneligibleCaseOwedNoDuty):
        case.start_duty(duty=Duty.relief, occurred_at=days(2), now=NOW)
    case.decide_eligibility(eligible=True, occurred_at=days(3), now=NOW)
    case.start_duty(duty=Duty.relief, occurred_at=days(3), now=NOW)


def test_a_case_is_not_decided_ineligible_while_a_duty_runs():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    with pytest.raises(DutyStillRunning):
        case.decide_eligibility(eligible=False, occurred_at=days(2), now=NOW)


def test_a_case_with_a_duty_running_is_not_closed_until_the_duty_ends_with_its_reason():
    case = a_case()
    case.start_duty(duty=Duty.prevention, occurred_at=days(1), now=NOW)
    with pytest.raises(DutyStillRunning):
        case.close(reason=ClosureReason.duty_ended, occurred_at=days(30), now=NOW)
    case.end_duty(duty=Duty.prevention, reason=DutyEndReason.accommodation_secured, occurred_at=days(30), now=NOW)
    case.close(reason=ClosureReason.duty_ended, occurred_at=days(30), now=NOW)
    with pytest.raises(CaseAlreadyClosed):
        case.start_duty(duty=Duty.relief, occurred_at=days(31), now=NOW)


# -- mediation follow-up


def returned_home_on_day_10(closed: bool = True) -> Case:
    case = a_case()
    case.attempt_mediation(occurred_at=days(2), now=NOW)
    case.conclude_mediation(outcome=MediationOutcome.returned_home, occurred_at=days(10), now=NOW)
    if closed:
        case.close(reason=ClosureReason.returned_home, occurred_at=days(11), now=NOW)
    case.collect_events()
    return case


def test_a_return_home_is_followed_up_at_3_and_6_months_on_a_closed_case():
    case = returned_home_on_day_10()
    three, six = months_later(days(10), 3), months_later(days(10), 6)
    case.follow_up_return_home(attempt=1, months_after=3, still_at_home=True, occurred_at=three, now=NOW)
    case.follow_up_return_home(attempt=1, months_after=6, still_at_home=False, occurred_at=six, now=NOW)

    [at_3, at_6] = case.collect_events()
    assert (at_3.event_type, at_3.attempt, at_3.months_after, at_3.still_at_home) == (
        "ReturnHomeFollowedUp", 1, 3, True)
    assert (at_6.months_after, at_6.still_at_home) == (6, False)
    assert case.closed


def test_each_follow_up_is_recorded_once():
    case = returned_home_on_day_10()
    case.follow_up_return_home(attempt=1, months_after=3, still_at_home=True, occurred_at=days(110), now=NOW)
    with pytest.raises(ReturnHomeAlreadyFollowedUp):
        case.follow_up_return_home(attempt=1, months_after=3, still_at_home=False, occurred_at=days(111), now=NOW)


def test_a_follow_up_waits_for_its_months_less_the_tolerance():
    case = returned_home_on_day_10()
    due = months_later(days(10), 3)
    with pytest.raises(FollowUpNotYetDue) as refused:
        case.follow_up_return_home(attempt=1, months_after=3, still_at_home=True,
                                   occurred_at=due - timedelta(days=15), now=NOW)
    assert refused.value.field == "occurred_at"
    case.follow_up_return_home(attempt=1, months_after=3, still_at_home=True, occurred_at=due - timedelta(days=14),
                               now=NOW)
    with pytest.raises(FollowUpNotYetDue):
        case.follow_up_return_home(attempt=1, months_after=6, still_at_home=True,
                                   occurred_at=months_later(days(10), 6) - timedelta(days=2), now=NOW,
                                   early_by=timedelta(days=1))


def test_only_an_attempt_that_returned_home_is_followed_up():
    case = a_case()
    case.attempt_mediation(occurred_at=days(2), now=NOW)
    case.conclude_mediation(outcome=MediationOutcome.not_possible, occurred_at=days(10), now=NOW)
    for attempt in (1, 2):
        with pytest.raises(NoReturnHomeToFollowUp):
            case.follow_up_return_home(attempt=attempt, months_after=3, still_at_home=True, occurred_at=days(200),
                                       now=NOW)


def test_a_follow_up_is_not_dated_in_the_future():
    case = returned_home_on_day_10()
    with pytest.raises(EventDatedInTheFuture):
        case.follow_up_return_home(attempt=1, months_after=6, still_at_home=True, occurred_at=NOW + timedelta(days=1),
                                   now=NOW)


def test_months_later_keeps_the_day_or_takes_the_last_of_a_shorter_month():
    assert months_later(datetime(2026, 11, 30, 9, tzinfo=UTC), 3) == datetime(2027, 2, 28, 9, tzinfo=UTC)
    assert months_later(datetime(2026, 9, 15, tzinfo=UTC), 6) == datetime(2027, 3, 15, tzinfo=UTC)
    assert months_later(datetime(2026, 9, 30, tzinfo=UTC), 3) == datetime(2026, 12, 30, tzinfo=UTC)


# -- EligibilityDecided schema 1


def test_a_version_1_eligibility_decision_is_read_without_its_derived_prevention_due_date():
    stored = json.dumps({
        "event_id": str(uuid4()), "event_type": "EligibilityDecided", "schema_version": 1,
        "aggregate_id": (case_id := str(uuid4())), "aggregate_version": 2, "case_id": case_id,
        "person_ref": str(uuid4()), "district": "swale", "occurred_at": "2024-03-16T10:00:00Z",
        "recorded_at": "2024-03-16T10:00:01Z", "actor": "district:swale", "correlation_id": str(uuid4()),
        "causation_id": None, "eligible": True, "prevention_duty_due_on": "2024-05-11"})

    event = parse_event(stored)

    assert isinstance(event, EligibilityDecided)
    assert (event.schema_version, event.eligible) == (2, True)
    assert "prevention_duty_due_on" not in event.model_dump()


def test_a_case_whose_history_holds_a_version_1_eligibility_decision_replays():
    case = a_case()
    referred = Case.make_referral(person_ref=case.person_ref, district="swale", gateway=Gateway.hub,
                                  cohort=Cohort.homeless_16_17, date_of_birth=date(2009, 6, 1),
                                  presenting_reason=PresentingReason.other, flags=[], occurred_at=REFERRED,
                                  now=NOW).collect_events()[0]
    v1 = {**json.loads(referred.model_dump_json()), "event_id": str(uuid4()), "event_type": "EligibilityDecided",
          "schema_version": 1, "aggregate_version": 2, "eligible": False, "prevention_duty_due_on": None}
    for key in ("gateway", "cohort", "legal_status", "age_at_event", "flags", "presenting_reason"):
        v1.pop(key)

    replayed = Case.from_history([referred, parse_event(v1)])

    assert replayed.eligible is False
    with pytest.raises(IneligibleCaseOwedNoDuty):
        replayed.start_duty(duty=Duty.prevention, occurred_at=days(3), now=NOW)


def test_how_early_a_follow_up_may_come_is_the_services_setting():
    from types import SimpleNamespace

    from services.referral.bootstrap import build
    from services.referral.domain import FOLLOW_UP_EARLY_BY
    from services.referral.handlers import follow_up_early_by
    from shared.settings import Settings

    app = build(Settings(environment="test", return_home_follow_up_early_days=5))

    assert app.state.runtime.store_env["RETURN_HOME_FOLLOW_UP_EARLY_DAYS"] == "5"
    assert follow_up_early_by(SimpleNamespace(env={"RETURN_HOME_FOLLOW_UP_EARLY_DAYS": "5"})) == timedelta(days=5)
    assert follow_up_early_by(SimpleNamespace(env={})) == FOLLOW_UP_EARLY_BY == timedelta(
        days=Settings(environment="test").return_home_follow_up_early_days)
