"""A case from referral to closure and re-referral: the rules each step keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.referral.domain import (
    Case,
    CaseAlreadyClosed,
    CaseIsNotClosed,
    CohortDoesNotMatchAge,
    EventDatedBeforeReferral,
    EventDatedInTheFuture,
    MediationAlreadyInProgress,
    NoMediationInProgress,
    PanelDecisionBeforeAssessment,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Gateway,
    Level,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
)

REFERRED = datetime(2026, 3, 2, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
BORN = date(2009, 6, 1)  # 16 at referral, 17 in November


def a_referred_case() -> Case:
    case = Case.make_referral(person_ref=uuid4(), district="swale", gateway=Gateway.hub,
                              cohort=Cohort.homeless_16_17, date_of_birth=BORN,
                              presenting_reason=PresentingReason.family_breakdown, flags=[],
                              occurred_at=REFERRED, now=NOW)
    case.collect_events()
    return case


def days(n: int) -> datetime:
    return REFERRED + timedelta(days=n)


def an_assessed_case() -> Case:
    case = a_referred_case()
    case.complete_assessment(support_needs=[], support_level=Level.medium, risk=Level.low,
                             priority_band=PriorityBand.a, occurred_at=days(3), now=NOW)
    return case


def test_an_eligibility_decision_derives_no_duty_or_due_date_duties_are_recorded_on_their_own():
    case = a_referred_case()
    case.decide_eligibility(eligible=True, occurred_at=days(1), now=NOW)
    [decided] = case.collect_events()
    assert decided.schema_version == 2 and "prevention_duty_due_on" not in decided.model_dump()
    assert case.eligible is True and case.running_duty is None


def test_mediation_is_attempted_then_concluded_with_an_outcome():
    case = a_referred_case()
    case.attempt_mediation(occurred_at=days(1), now=NOW)
    case.conclude_mediation(outcome=MediationOutcome.returned_home, occurred_at=days(2), now=NOW)
    [attempted, concluded] = case.collect_events()
    assert (attempted.event_type, attempted.attempt) == ("MediationAttempted", 1)
    assert (concluded.outcome, concluded.attempt) == (MediationOutcome.returned_home, 1)


def test_a_second_mediation_cannot_start_before_the_first_concludes():
    case = a_referred_case()
    case.attempt_mediation(occurred_at=days(1), now=NOW)
    with pytest.raises(MediationAlreadyInProgress):
        case.attempt_mediation(occurred_at=days(2), now=NOW)


def test_a_mediation_outcome_needs_an_attempt_in_progress():
    with pytest.raises(NoMediationInProgress):
        a_referred_case().conclude_mediation(outcome=MediationOutcome.not_possible, occurred_at=days(1), now=NOW)


def test_no_panel_decision_before_assessment():
    with pytest.raises(PanelDecisionBeforeAssessment):
        a_referred_case().decide_at_panel(decision=PanelDecision.allocate_service, panel_date=days(5).date(),
                                          emergency_placement_reported=False, occurred_at=days(5), now=NOW)


def test_a_panel_decides_on_an_assessed_case_and_hears_of_emergency_placements():
    case = an_assessed_case()
    case.decide_at_panel(decision=PanelDecision.allocate_service, panel_date=days(7).date(),
                         emergency_placement_reported=True, occurred_at=days(7), now=NOW)
    assert case.collect_events()[-1].emergency_placement_reported is True


def test_nothing_is_recorded_on_a_closed_case_and_no_mediation_after_closure():
    case = a_referred_case()
    case.close(reason=ClosureReason.returned_home, occurred_at=days(10), now=NOW)
    with pytest.raises(CaseAlreadyClosed):
        case.attempt_mediation(occurred_at=days(11), now=NOW)
    with pytest.raises(CaseAlreadyClosed):
        case.close(reason=ClosureReason.other, occurred_at=days(11), now=NOW)


def test_events_dated_before_the_referral_or_in_the_future_are_refused():
    case = a_referred_case()
    with pytest.raises(EventDatedBeforeReferral):
        case.attempt_mediation(occurred_at=days(-1), now=NOW)
    with pytest.raises(EventDatedInTheFuture):
        case.attempt_mediation(occurred_at=NOW + timedelta(days=1), now=NOW)


def test_a_reopened_case_continues_with_the_cohort_of_its_age_at_re_referral():
    case = a_referred_case()
    case.close(reason=ClosureReason.returned_home, occurred_at=days(10), now=NOW)
    later = datetime(2027, 7, 1, tzinfo=UTC)  # now 18
    with pytest.raises(CohortDoesNotMatchAge):
        case.reopen(presenting_reason=PresentingReason.parental_eviction, cohort=Cohort.homeless_16_17,
                    date_of_birth=BORN, occurred_at=later, now=later)
    case.reopen(presenting_reason=PresentingReason.parental_eviction, cohort=Cohort.young_person_at_risk,
                date_of_birth=BORN, occurred_at=later, now=later)
    reopened = case.collect_events()[-1]
    assert (reopened.event_type, reopened.age_at_event, reopened.aggregate_id) == ("CaseReopened", 18, case.id)
    assert not case.closed


def test_only_a_closed_case_can_be_reopened():
    with pytest.raises(CaseIsNotClosed):
        a_referred_case().reopen(presenting_reason=PresentingReason.other, cohort=Cohort.homeless_16_17,
                                 date_of_birth=BORN, occurred_at=days(3), now=NOW)


def test_a_re_referral_after_the_closure_may_be_dated_before_a_turning_18_already_recorded():
    """Recorded late (as a district's back-dated messages are): turning 18 (counted from 1 July 2027) is on the case
    before its closure (10 May) and its re-referral (20 May, still 17) arrive. The re-referral is dated after the
    closure, so it stands, and the status now is still the latest dated: 18, a young person at risk."""
    case = a_referred_case()
    recorded = datetime(2027, 9, 1, tzinfo=UTC)
    assert case.reach_18_if_due(BORN, recorded)
    case.close(reason=ClosureReason.returned_home, occurred_at=datetime(2027, 5, 10, tzinfo=UTC), now=recorded)
    with pytest.raises(EventDatedBeforeReferral):
        case.reopen(presenting_reason=PresentingReason.parental_eviction, cohort=Cohort.homeless_16_17,
                    date_of_birth=BORN, occurred_at=datetime(2027, 5, 9, tzinfo=UTC), now=recorded)
    case.reopen(presenting_reason=PresentingReason.parental_eviction, cohort=Cohort.homeless_16_17,
                date_of_birth=BORN, occurred_at=datetime(2027, 5, 20, tzinfo=UTC), now=recorded)

    assert [event.event_type for event in case.collect_events()] == ["AgeReached", "CaseClosed", "CaseReopened"]
    assert (case.cohort, case.age, case.closed) == (Cohort.young_person_at_risk, 18, False)
