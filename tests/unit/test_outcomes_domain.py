"""The outcomes service's rules on the support episode: the outcomes framework's contract, the SupportEpisode
aggregate alone, and the Outcomes store in memory (plan, review, departure; each refusal saves nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from services.outcomes.application import ChangedConcurrently, Outcomes
from services.outcomes.domain import (
    DepartureAlreadyRecorded,
    EpisodeNotEnded,
    KnownEpisode,
    NoSupportPlan,
    OutcomeDatedInTheFuture,
    OutcomeNeverNeeded,
    OutcomeResultMissing,
    PlanOutsideEpisode,
    ReviewBeforePlan,
    SupportEpisode,
    SupportPlanAlreadyAgreed,
    SupportPlanClosed,
    UnknownSupportEpisode,
)
from shared.contracts import Event, EventContext
from shared.contracts.outcomes import (
    FRAMEWORK,
    DepartureOutcomesRecorded,
    Independence,
    Outcome,
    OutcomeDomain,
    OutcomeResult,
    ServiceType,
    SupportPlanAgreed,
    SupportPlanReviewed,
)
from shared.errors import Conflict, NotFound, Refused

from .outcomes_builders import CONTEXT, NOW, an_episode, days_ago, ended, events_of, in_memory_outcomes, known

INCOME, DEBT, WORK = Outcome.maximise_income, Outcome.reduce_debt, Outcome.obtain_paid_work
ACCOMMODATION = Outcome.secure_settled_accommodation
ACHIEVED, NOT_ACHIEVED = OutcomeResult.achieved, OutcomeResult.not_achieved
NOT_APPLICABLE = OutcomeResult.not_applicable


def a_plan(episode: KnownEpisode, *needed: Outcome, days: int = 90) -> SupportEpisode:
    """A plan agreed `days` ago on the episode, needing `needed` (none given: income and debt)."""
    return SupportEpisode.agree_plan(episode, outcomes_needed=list(needed or (INCOME, DEBT)),
                                     occurred_at=days_ago(days), now=NOW)


def facts_of(episode: KnownEpisode) -> dict:
    return {"episode_id": episode.episode_id, "scheme_id": episode.scheme_id, "provider_id": episode.provider_id,
            "service_type": episode.service_type, "case_id": episode.case_id, "person_ref": episode.person_ref,
            "district": episode.district}


def facts_carried(event: Event) -> dict:
    return {name: getattr(event, name) for name in ("episode_id", "scheme_id", "provider_id", "service_type",
                                                     "case_id", "person_ref", "district")}


# -- the outcomes framework (shared/contracts/outcomes.py) ------------------------------------------

KENTS_TABLE = {
    # Kent's Appendix 4 wording; the two "establish contact" rows are told apart as DOMAIN.md says.
    Outcome.maximise_income: (OutcomeDomain.economic_wellbeing, "To maximise Income"),
    Outcome.reduce_debt: (OutcomeDomain.economic_wellbeing, "To reduce debt"),
    Outcome.obtain_paid_work: (OutcomeDomain.economic_wellbeing, "To obtain paid work"),
    Outcome.participate_in_training_or_education: (OutcomeDomain.enjoy_and_achieve,
                                                   "To participate in training/education"),
    Outcome.participate_in_informal_learning: (OutcomeDomain.enjoy_and_achieve, "To participate in informal learning"),
    Outcome.participate_in_work_like_activities: (OutcomeDomain.enjoy_and_achieve,
                                                  "To participate in work-like activities"),
    Outcome.establish_contact_with_external_services_or_groups: (
        OutcomeDomain.enjoy_and_achieve, "To establish contact with external services or groups"),
    Outcome.establish_contact_with_family_and_friends: (OutcomeDomain.enjoy_and_achieve,
                                                        "To establish contact with family and friends"),
    Outcome.manage_physical_health: (OutcomeDomain.be_healthy, "Manage physical health"),
    Outcome.manage_mental_health: (OutcomeDomain.be_healthy, "Manage mental health"),
    Outcome.manage_substance_misuse: (OutcomeDomain.be_healthy, "Manage substance misuse issues"),
    Outcome.technology_helping_to_maintain_independence: (OutcomeDomain.be_healthy,
                                                          "Technology helping to maintain independence"),
    Outcome.maintain_accommodation: (OutcomeDomain.stay_safe, "To maintain their accommodation"),
    Outcome.secure_settled_accommodation: (OutcomeDomain.stay_safe, "To secure/obtain settled accommodation"),
    Outcome.comply_with_statutory_orders: (OutcomeDomain.stay_safe, "To comply with statutory orders"),
    Outcome.better_manage_self_harm: (OutcomeDomain.stay_safe, "To better manage self harm"),
    Outcome.avoid_causing_harm_to_others: (OutcomeDomain.stay_safe, "To avoid causing harm to others"),
    Outcome.minimise_risk_of_harm_from_others: (OutcomeDomain.stay_safe, "To minimise risk of harm from others"),
    Outcome.develop_confidence_and_choice: (OutcomeDomain.make_a_positive_contribution,
                                            "To develop confidence and choice"),
}


def test_the_framework_has_19_outcomes_in_5_domains_in_kents_order():
    assert len(Outcome) == 19 and len(OutcomeDomain) == 5
    assert list(FRAMEWORK) == list(Outcome) == list(KENTS_TABLE)
    per_domain = {domain: sum(1 for outcome in Outcome if outcome.domain is domain) for domain in OutcomeDomain}
    assert per_domain == {OutcomeDomain.economic_wellbeing: 3, OutcomeDomain.enjoy_and_achieve: 5,
                          OutcomeDomain.be_healthy: 4, OutcomeDomain.stay_safe: 6,
                          OutcomeDomain.make_a_positive_contribution: 1}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_each_outcome_has_its_domain_and_kents_label(outcome: Outcome):
    assert (outcome.domain, outcome.label) == KENTS_TABLE[outcome]


def test_each_domain_has_kents_label():
    assert {domain: domain.label for domain in OutcomeDomain} == {
        OutcomeDomain.economic_wellbeing: "Achieving Economic Wellbeing",
        OutcomeDomain.enjoy_and_achieve: "Enjoy and Achieve",
        OutcomeDomain.be_healthy: "Be Healthy",
        OutcomeDomain.stay_safe: "Stay Safe",
        OutcomeDomain.make_a_positive_contribution: "Make a positive Contribution",
    }


def test_the_two_establish_contact_outcomes_are_different_outcomes():
    external = Outcome.establish_contact_with_external_services_or_groups
    family = Outcome.establish_contact_with_family_and_friends
    assert external is not family and external.value != family.value
    assert external.label != family.label
    assert "external services or groups" in external.label and "family and friends" in family.label
    assert external.domain is family.domain is OutcomeDomain.enjoy_and_achieve
    assert len({outcome.label for outcome in Outcome}) == 19


def test_an_outcome_named_twice_is_refused_by_support_plan_agreed():
    episode = an_episode()
    with pytest.raises(ValidationError, match="more than once"):
        SupportPlanAgreed(aggregate_id=episode.episode_id, aggregate_version=1, occurred_at=days_ago(1),
                          outcomes_needed=[INCOME, DEBT, INCOME], **facts_of(episode))


def test_a_plan_needing_no_outcome_is_refused_by_support_plan_agreed():
    episode = an_episode()
    with pytest.raises(ValidationError):
        SupportPlanAgreed(aggregate_id=episode.episode_id, aggregate_version=1, occurred_at=days_ago(1),
                          outcomes_needed=[], **facts_of(episode))


def test_an_outcome_added_twice_is_refused_by_support_plan_reviewed():
    episode = an_episode()
    with pytest.raises(ValidationError, match="more than once"):
        SupportPlanReviewed(aggregate_id=episode.episode_id, aggregate_version=2, occurred_at=days_ago(1),
                            outcomes_added=[WORK, WORK], **facts_of(episode))


# -- the aggregate: agreeing a plan -----------------------------------------------------------------


def test_agreeing_a_plan_records_the_outcomes_needed_with_the_episodes_facts():
    episode = an_episode()
    plan = a_plan(episode, INCOME, ACCOMMODATION, days=90)
    [event] = plan.collect_events()
    assert isinstance(event, SupportPlanAgreed)
    assert event.aggregate_id == episode.episode_id and event.aggregate_version == 1
    assert event.outcomes_needed == [INCOME, ACCOMMODATION]
    assert event.occurred_at == days_ago(90)
    assert facts_carried(event) == facts_of(episode)
    assert plan.id == episode.episode_id
    assert plan.outcomes_needed == {INCOME, ACCOMMODATION}
    assert plan.results == {} and plan.independence is None and plan.departure_recorded is False


def test_a_plan_may_be_dated_on_the_days_the_episode_started_and_ended():
    episode = ended(an_episode(started_at=days_ago(100, hour=15)), at=days_ago(10, hour=9))
    assert SupportEpisode.agree_plan(episode, outcomes_needed=[INCOME], occurred_at=days_ago(100, hour=8), now=NOW)
    assert SupportEpisode.agree_plan(episode, outcomes_needed=[INCOME], occurred_at=days_ago(10, hour=20), now=NOW)


def test_a_plan_dated_before_the_episode_started_is_refused_as_outside_the_episode():
    episode = an_episode(started_at=days_ago(100))
    with pytest.raises(PlanOutsideEpisode) as refused:
        SupportEpisode.agree_plan(episode, outcomes_needed=[INCOME], occurred_at=days_ago(101), now=NOW)
    assert refused.value.field == "occurred_at"


def test_a_plan_dated_after_the_episode_ended_is_refused_as_outside_the_episode():
    episode = ended(an_episode(started_at=days_ago(100)), at=days_ago(10))
    with pytest.raises(PlanOutsideEpisode) as refused:
        SupportEpisode.agree_plan(episode, outcomes_needed=[INCOME], occurred_at=days_ago(9), now=NOW)
    assert refused.value.field == "occurred_at"


def test_a_plan_dated_in_the_future_is_refused():
    with pytest.raises(OutcomeDatedInTheFuture) as refused:
        SupportEpisode.agree_plan(an_episode(), outcomes_needed=[INCOME], occurred_at=NOW + timedelta(minutes=1),
                                  now=NOW)
    assert refused.value.field == "occurred_at"


# -- the aggregate: reviews -------------------------------------------------------------------------


def test_a_review_adds_outcomes_needed_and_records_results_and_independence():
    episode = an_episode(service_type=ServiceType.long_term)
    plan = a_plan(episode, INCOME, DEBT)
    plan.collect_events()
    plan.review(episode, outcomes_added=[WORK], results={INCOME: ACHIEVED, WORK: NOT_ACHIEVED},
                independence=Independence.maintained, occurred_at=days_ago(30), now=NOW)
    [event] = plan.collect_events()
    assert isinstance(event, SupportPlanReviewed) and event.aggregate_version == 2
    assert event.outcomes_added == [WORK]
    assert event.results == {INCOME: ACHIEVED, WORK: NOT_ACHIEVED}
    assert event.independence is Independence.maintained
    assert facts_carried(event) == facts_of(episode)
    assert plan.outcomes_needed == {INCOME, DEBT, WORK}
    assert plan.results == {INCOME: ACHIEVED, WORK: NOT_ACHIEVED}
    assert plan.independence is Independence.maintained


def test_a_review_names_as_added_only_the_outcomes_not_already_needed():
    episode = an_episode()
    plan = a_plan(episode, INCOME)
    plan.collect_events()
    plan.review(episode, outcomes_added=[INCOME, DEBT], results={}, independence=None, occurred_at=days_ago(30),
                now=NOW)
    [event] = plan.collect_events()
    assert event.outcomes_added == [DEBT]


def test_a_review_without_independence_keeps_the_independence_last_recorded():
    episode = an_episode(service_type=ServiceType.long_term)
    plan = a_plan(episode)
    plan.review(episode, outcomes_added=[], results={}, independence=Independence.not_maintained,
                occurred_at=days_ago(60), now=NOW)
    plan.review(episode, outcomes_added=[], results={INCOME: ACHIEVED}, independence=None,
                occurred_at=days_ago(30), now=NOW)
    assert plan.independence is Independence.not_maintained


def test_a_review_result_for_an_outcome_never_needed_is_refused():
    episode = an_episode()
    plan = a_plan(episode, INCOME)
    with pytest.raises(OutcomeNeverNeeded) as refused:
        plan.review(episode, outcomes_added=[], results={WORK: ACHIEVED}, independence=None,
                    occurred_at=days_ago(30), now=NOW)
    assert refused.value.field == "results"
    assert WORK.value in str(refused.value)


def test_a_review_result_for_an_outcome_added_at_the_same_review_is_accepted():
    episode = an_episode()
    plan = a_plan(episode, INCOME)
    plan.review(episode, outcomes_added=[WORK], results={WORK: ACHIEVED}, independence=None,
                occurred_at=days_ago(30), now=NOW)
    assert plan.results == {WORK: ACHIEVED}


def test_a_review_dated_in_the_future_is_refused():
    episode = an_episode()
    plan = a_plan(episode)
    with pytest.raises(OutcomeDatedInTheFuture):
        plan.review(episode, outcomes_added=[], results={}, independence=None,
                    occurred_at=NOW + timedelta(seconds=1), now=NOW)


def test_a_review_dated_before_the_plan_was_agreed_is_refused():
    episode = an_episode()
    plan = a_plan(episode)
    with pytest.raises(ReviewBeforePlan) as refused:
        plan.review(episode, outcomes_added=[], results={}, independence=None,
                    occurred_at=plan_day(plan) - timedelta(days=1), now=NOW)
    assert refused.value.field == "occurred_at"


def plan_day(plan: SupportEpisode) -> datetime:
    return datetime(plan.agreed_on.year, plan.agreed_on.month, plan.agreed_on.day, 12, tzinfo=UTC)


def test_a_review_dated_after_the_episode_ended_is_refused_as_the_plan_closed():
    episode = an_episode()
    plan = a_plan(episode)
    with pytest.raises(SupportPlanClosed):
        plan.review(ended(episode, at=days_ago(20)), outcomes_added=[], results={}, independence=None,
                    occurred_at=days_ago(19), now=NOW)


def test_a_review_dated_on_the_day_the_episode_ended_is_accepted():
    episode = an_episode()
    plan = a_plan(episode)
    plan.review(ended(episode, at=days_ago(20, hour=9)), outcomes_added=[], results={INCOME: ACHIEVED},
                independence=None, occurred_at=days_ago(20, hour=17), now=NOW)
    assert plan.results == {INCOME: ACHIEVED}


def test_a_review_once_the_departure_outcomes_are_recorded_is_refused_as_the_plan_closed():
    episode = ended(an_episode(), at=days_ago(20))
    plan = a_plan(episode, INCOME)
    plan.record_departure(episode, results={INCOME: ACHIEVED}, independence=None)
    with pytest.raises(SupportPlanClosed):
        plan.review(episode, outcomes_added=[], results={}, independence=None, occurred_at=days_ago(25), now=NOW)


# -- the aggregate: outcomes at departure -----------------------------------------------------------


def test_departure_outcomes_are_dated_at_the_episodes_end_with_its_departure_event():
    departure = uuid4()
    episode = ended(an_episode(), at=days_ago(12, hour=14), departure_event_id=departure)
    plan = a_plan(episode, INCOME, DEBT)
    plan.collect_events()
    plan.record_departure(episode, results={INCOME: ACHIEVED, DEBT: NOT_APPLICABLE},
                          independence=Independence.achieved)
    [event] = plan.collect_events()
    assert isinstance(event, DepartureOutcomesRecorded) and event.aggregate_version == 2
    assert event.occurred_at == days_ago(12, hour=14)
    assert event.departure_event_id == departure
    assert event.results == {INCOME: ACHIEVED, DEBT: NOT_APPLICABLE}
    assert event.independence is Independence.achieved
    assert facts_carried(event) == facts_of(episode)
    assert plan.departure_recorded is True
    assert plan.results == {INCOME: ACHIEVED, DEBT: NOT_APPLICABLE}


def test_departure_outcomes_need_a_result_for_every_outcome_needed_added_at_reviews_included():
    episode = an_episode()
    plan = a_plan(episode, INCOME)
    plan.review(episode, outcomes_added=[DEBT], results={DEBT: ACHIEVED}, independence=None,
                occurred_at=days_ago(40), now=NOW)
    with pytest.raises(OutcomeResultMissing) as refused:
        plan.record_departure(ended(episode), results={INCOME: ACHIEVED}, independence=None)
    assert refused.value.field == "results"
    assert DEBT.value in str(refused.value) and INCOME.value not in str(refused.value)


def test_departure_result_for_an_outcome_never_needed_is_refused():
    episode = ended(an_episode())
    plan = a_plan(episode, INCOME)
    with pytest.raises(OutcomeNeverNeeded):
        plan.record_departure(episode, results={INCOME: ACHIEVED, WORK: ACHIEVED}, independence=None)


@pytest.mark.parametrize("ending", [{"ended_at": None, "departure_event_id": None},
                                    {"ended_at": days_ago(10), "departure_event_id": None}],
                         ids=["not-ended", "no-departure-event"])
def test_departure_outcomes_before_the_placement_service_recorded_the_end_are_refused(ending: dict):
    episode = replace(an_episode(), **ending)
    plan = a_plan(episode, INCOME)
    with pytest.raises(EpisodeNotEnded):
        plan.record_departure(episode, results={INCOME: ACHIEVED}, independence=None)


def test_departure_outcomes_are_recorded_once():
    episode = ended(an_episode())
    plan = a_plan(episode, INCOME)
    plan.record_departure(episode, results={INCOME: ACHIEVED}, independence=None)
    with pytest.raises(DepartureAlreadyRecorded):
        plan.record_departure(episode, results={INCOME: NOT_ACHIEVED}, independence=None)


def test_a_support_episode_rebuilt_from_its_events_has_the_state_they_recorded():
    episode = ended(an_episode(service_type=ServiceType.floating_support))
    plan = a_plan(episode, INCOME)
    plan.review(episode, outcomes_added=[DEBT], results={INCOME: NOT_ACHIEVED}, independence=Independence.maintained,
                occurred_at=days_ago(40), now=NOW)
    plan.record_departure(episode, results={INCOME: ACHIEVED, DEBT: ACHIEVED}, independence=None)
    rebuilt = SupportEpisode.from_history(plan.collect_events())
    assert rebuilt is not None and rebuilt.id == episode.episode_id and rebuilt.version == 3
    assert rebuilt.outcomes_needed == {INCOME, DEBT}
    assert rebuilt.results == {INCOME: ACHIEVED, DEBT: ACHIEVED}
    assert rebuilt.independence is Independence.maintained and rebuilt.departure_recorded is True


@pytest.mark.parametrize(("error", "kind", "status"), [
    (UnknownSupportEpisode, NotFound, 404), (SupportPlanAlreadyAgreed, Conflict, 409),
    (NoSupportPlan, Conflict, 409), (SupportPlanClosed, Conflict, 409), (DepartureAlreadyRecorded, Conflict, 409),
    (EpisodeNotEnded, Conflict, 409), (PlanOutsideEpisode, Refused, 422), (OutcomeNeverNeeded, Refused, 422),
    (OutcomeResultMissing, Refused, 422), (OutcomeDatedInTheFuture, Refused, 422)])
def test_each_named_error_is_of_its_kind(error: type, kind: type, status: int):
    assert issubclass(error, kind) and error.status == status


# -- the store, in memory ---------------------------------------------------------------------------


def test_the_store_agrees_a_plan_on_a_known_episode():
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    position = store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[INCOME, DEBT], occurred_at=days_ago(90))
    assert position == store.position() > 0
    [event] = events_of(store, episode.episode_id)
    assert isinstance(event, SupportPlanAgreed) and event.outcomes_needed == [INCOME, DEBT]
    assert event.actor == CONTEXT.actor and event.correlation_id == CONTEXT.correlation_id
    plan = store.support_of(episode.episode_id)
    assert plan is not None and plan.outcomes_needed == {INCOME, DEBT}


def test_the_store_has_no_plan_for_an_episode_none_was_agreed_on():
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    assert store.support_of(episode.episode_id) is None


def test_the_store_records_a_plan_its_reviews_and_the_departure_outcomes_in_order():
    store = in_memory_outcomes()
    episode = known(store, an_episode(service_type=ServiceType.floating_support))
    store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[INCOME], occurred_at=days_ago(90))
    store.review_plan(CONTEXT, episode.episode_id, outcomes_added=[DEBT], results={INCOME: NOT_ACHIEVED},
                      independence=Independence.maintained, occurred_at=days_ago(50))
    known(store, ended(episode, at=days_ago(10)))
    store.record_departure(CONTEXT, episode.episode_id, results={INCOME: ACHIEVED, DEBT: NOT_APPLICABLE},
                           independence=Independence.achieved)
    events = events_of(store, episode.episode_id)
    assert [type(event) for event in events] == [SupportPlanAgreed, SupportPlanReviewed, DepartureOutcomesRecorded]
    assert [event.aggregate_version for event in events] == [1, 2, 3]
    plan = store.support_of(episode.episode_id)
    assert plan is not None and plan.departure_recorded
    assert plan.results == {INCOME: ACHIEVED, DEBT: NOT_APPLICABLE}
    assert plan.independence is Independence.achieved


def test_every_event_the_store_records_carries_the_episodes_facts():
    store = in_memory_outcomes()
    episode = known(store, an_episode(service_type=ServiceType.long_term, district="preston"))
    store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[INCOME], occurred_at=days_ago(90))
    store.review_plan(CONTEXT, episode.episode_id, outcomes_added=[], results={INCOME: ACHIEVED}, independence=None,
                      occurred_at=days_ago(50))
    known(store, ended(episode))
    store.record_departure(CONTEXT, episode.episode_id, results={INCOME: ACHIEVED}, independence=None)
    events = events_of(store, episode.episode_id)
    assert len(events) == 3
    for event in events:
        assert facts_carried(event) == facts_of(episode)
        assert event.aggregate_id == episode.episode_id


def test_the_store_dates_departure_outcomes_at_the_episodes_end_with_its_departure_event():
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[INCOME], occurred_at=days_ago(90))
    departure = uuid4()
    known(store, ended(episode, at=days_ago(7, hour=16), departure_event_id=departure))
    store.record_departure(CONTEXT, episode.episode_id, results={INCOME: ACHIEVED}, independence=None)
    event = events_of(store, episode.episode_id)[-1]
    assert isinstance(event, DepartureOutcomesRecorded)
    assert event.occurred_at == days_ago(7, hour=16) and event.departure_event_id == departure


Command = Callable[[Outcomes, KnownEpisode], object]


def _plan(store: Outcomes, episode: KnownEpisode, days: int = 90) -> object:
    return store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[INCOME], occurred_at=days_ago(days))


def _review(days: int = 30, **results: OutcomeResult) -> Command:
    return lambda store, episode: store.review_plan(
        CONTEXT, episode.episode_id, outcomes_added=[], results={Outcome(k): v for k, v in results.items()},
        independence=None, occurred_at=days_ago(days))


def _departure(**results: OutcomeResult) -> Command:
    return lambda store, episode: store.record_departure(
        CONTEXT, episode.episode_id, results={Outcome(k): v for k, v in results.items()}, independence=None)


REFUSALS: dict[str, tuple[str, Command, type[Exception]]] = {
    # name: (what the episode has before: "none", "plan" or "departed"; the command; the error)
    "plan on unknown episode": ("unknown", _plan, UnknownSupportEpisode),
    "plan before the episode": ("none", lambda s, e: _plan(s, e, days=101), PlanOutsideEpisode),
    "plan in the future": ("none", lambda s, e: s.agree_plan(CONTEXT, e.episode_id, outcomes_needed=[INCOME],
                                                             occurred_at=NOW + timedelta(days=1)),
                           OutcomeDatedInTheFuture),
    "second plan": ("plan", _plan, SupportPlanAlreadyAgreed),
    "review of unknown episode": ("unknown", _review(), UnknownSupportEpisode),
    "review without a plan": ("none", _review(), NoSupportPlan),
    "review of an outcome never needed": ("plan", _review(obtain_paid_work=ACHIEVED), OutcomeNeverNeeded),
    "review in the future": ("plan", _review(days=-1), OutcomeDatedInTheFuture),
    "review after departure": ("departed", _review(days=30), SupportPlanClosed),
    "departure of unknown episode": ("unknown", _departure(maximise_income=ACHIEVED), UnknownSupportEpisode),
    "departure without a plan": ("none", _departure(maximise_income=ACHIEVED), NoSupportPlan),
    "departure before the end": ("plan", _departure(maximise_income=ACHIEVED), EpisodeNotEnded),
    "departure missing a result": ("ended", _departure(), OutcomeResultMissing),
    "departure of an outcome never needed": (
        "ended", _departure(maximise_income=ACHIEVED, reduce_debt=ACHIEVED), OutcomeNeverNeeded),
    "departure twice": ("departed", _departure(maximise_income=NOT_ACHIEVED), DepartureAlreadyRecorded),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_refused_command_saves_nothing(name: str):
    before, command, error = REFUSALS[name]
    store = in_memory_outcomes()
    episode = an_episode(started_at=days_ago(100))
    if before != "unknown":
        known(store, episode)
    if before in ("plan", "ended", "departed"):
        _plan(store, episode)
    if before in ("ended", "departed"):
        episode = known(store, ended(episode, at=days_ago(10)))
    if before == "departed":
        _departure(maximise_income=ACHIEVED)(store, episode)
    events, position = events_of(store, episode.episode_id), store.position()
    with pytest.raises(error):
        command(store, episode)
    assert events_of(store, episode.episode_id) == events
    assert store.position() == position


def test_a_plan_agreed_by_another_request_first_is_refused_as_already_agreed():
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    _plan(store, episode)
    events = events_of(store, episode.episode_id)
    store.support_of = lambda episode_id: None  # type: ignore[method-assign] - read before the other's save
    with pytest.raises(SupportPlanAlreadyAgreed):
        store.agree_plan(CONTEXT, episode.episode_id, outcomes_needed=[DEBT], occurred_at=days_ago(80))
    assert events_of(store, episode.episode_id) == events


def test_a_review_overtaken_by_another_change_is_decided_again_on_the_new_state(monkeypatch: pytest.MonkeyPatch):
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    _plan(store, episode)
    record, calls = store.record, []

    def overtaken_once(context: EventContext, *aggregates: SupportEpisode) -> int:
        calls.append(aggregates[0].version)
        if len(calls) == 1:
            raise IntegrityError("another request saved version 2 first")
        return record(context, *aggregates)

    monkeypatch.setattr(store, "record", overtaken_once)
    _review(maximise_income=ACHIEVED)(store, episode)
    assert len(calls) == 2
    assert [type(event) for event in events_of(store, episode.episode_id)] == [SupportPlanAgreed, SupportPlanReviewed]


def test_a_change_overtaken_every_time_is_refused_as_changed_concurrently(monkeypatch: pytest.MonkeyPatch):
    store = in_memory_outcomes()
    episode = known(store, an_episode())
    _plan(store, episode)
    events = events_of(store, episode.episode_id)

    def always_overtaken(context: EventContext, *aggregates: SupportEpisode) -> int:
        raise IntegrityError("another request saved first")

    monkeypatch.setattr(store, "record", always_overtaken)
    with pytest.raises(ChangedConcurrently):
        _review(maximise_income=ACHIEVED)(store, episode)
    assert events_of(store, episode.episode_id) == events
