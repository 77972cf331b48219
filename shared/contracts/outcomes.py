"""Events recorded by the outcomes service: each support episode's support plan against the outcomes framework,
its reviews, and what was achieved at departure [004 Appendix 4].

A support episode is the support a young person gets from one service: one per scheme of a placement (a move
between schemes ends one episode and opens the next, as Kent counts departures per service) and one per floating
support episode. The outcomes service learns of episodes from the placement service's events; its own events
(these) are the provider's record of the support: the aggregate is the episode, its id the `event_id` of the
placement event that opened it (PlacementStarted, PlacementMoved or FloatingSupportStarted).
"""

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from shared.contracts.envelope import Event


class OutcomeDomain(StrEnum):
    """The five domains of the Supporting People outcomes framework [004 Appendix 4]."""

    economic_wellbeing = "economic_wellbeing"
    enjoy_and_achieve = "enjoy_and_achieve"
    be_healthy = "be_healthy"
    stay_safe = "stay_safe"
    make_a_positive_contribution = "make_a_positive_contribution"

    @property
    def label(self) -> str:
        return _DOMAIN_LABELS[self]


_DOMAIN_LABELS = {
    OutcomeDomain.economic_wellbeing: "Achieving Economic Wellbeing",
    OutcomeDomain.enjoy_and_achieve: "Enjoy and Achieve",
    OutcomeDomain.be_healthy: "Be Healthy",
    OutcomeDomain.stay_safe: "Stay Safe",
    OutcomeDomain.make_a_positive_contribution: "Make a positive Contribution",
}


class Outcome(StrEnum):
    """The 19 outcomes of the framework, in the order of Kent's table [004 Appendix 4]. The two "establish
    contact" rows are different outcomes: contact with external services or groups, and with family and
    friends (DOMAIN.md, "Indicator definitions")."""

    maximise_income = "maximise_income"
    reduce_debt = "reduce_debt"
    obtain_paid_work = "obtain_paid_work"
    participate_in_training_or_education = "participate_in_training_or_education"
    participate_in_informal_learning = "participate_in_informal_learning"
    participate_in_work_like_activities = "participate_in_work_like_activities"
    establish_contact_with_external_services_or_groups = "establish_contact_with_external_services_or_groups"
    establish_contact_with_family_and_friends = "establish_contact_with_family_and_friends"
    manage_physical_health = "manage_physical_health"
    manage_mental_health = "manage_mental_health"
    manage_substance_misuse = "manage_substance_misuse"
    technology_helping_to_maintain_independence = "technology_helping_to_maintain_independence"
    maintain_accommodation = "maintain_accommodation"
    secure_settled_accommodation = "secure_settled_accommodation"
    comply_with_statutory_orders = "comply_with_statutory_orders"
    better_manage_self_harm = "better_manage_self_harm"
    avoid_causing_harm_to_others = "avoid_causing_harm_to_others"
    minimise_risk_of_harm_from_others = "minimise_risk_of_harm_from_others"
    develop_confidence_and_choice = "develop_confidence_and_choice"

    @property
    def domain(self) -> OutcomeDomain:
        return FRAMEWORK[self][0]

    @property
    def label(self) -> str:
        return FRAMEWORK[self][1]


FRAMEWORK: dict[Outcome, tuple[OutcomeDomain, str]] = {
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
"""Each outcome's domain and its wording in Kent's table."""


class OutcomeResult(StrEnum):
    """What became of an outcome needed, at departure (short-term services) or at a review (long-term)."""

    achieved = "achieved"
    not_achieved = "not_achieved"
    not_applicable = "not_applicable"
    """Left out of the outcome's denominator (the national method since 2010: never mixed with the older one)."""


class ServiceType(StrEnum):
    """The kinds of service Kent's KPIs are reported by [004 Appendix 2]; which provision types are which is the
    commissioners' dated rule (services/outcomes/rules.toml)."""

    short_term = "short_term"
    """Short-term accommodation-based services: KPI2, outcomes at departure."""
    long_term = "long_term"
    """Long-term accommodation-based services: KPI1, outcomes at review."""
    floating_support = "floating_support"
    """Support attached to the person: KPI1 and KPI2, outcomes at departure."""


class Independence(StrEnum):
    """A long-term or floating support user's independence for KPI1, as the provider last recorded it."""

    maintained = "maintained"
    achieved = "achieved"
    not_maintained = "not_maintained"


class OutcomesEvent(Event):
    service = "outcomes"


class EpisodeFacts(OutcomesEvent):
    """What the outcomes service knew of the episode when the event was recorded (from the placement service's
    events), so each event reads on its own."""

    episode_id: UUID = Field(description="The event_id of the placement event that opened the episode")
    scheme_id: UUID
    provider_id: UUID
    service_type: ServiceType


def _each_once(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("names an outcome more than once")
    return values


class SupportPlanAgreed(EpisodeFacts):
    """The young person's support plan for the episode: the outcomes of the framework they need support with."""

    event_type: Literal["SupportPlanAgreed"] = "SupportPlanAgreed"
    outcomes_needed: list[Outcome] = Field(min_length=1, max_length=len(Outcome))

    _once = field_validator("outcomes_needed")(_each_once)


class SupportPlanReviewed(EpisodeFacts):
    """A review of the support plan: outcomes found needed since, each outcome's result so far (long-term services
    report outcomes at review), and the young person's independence for KPI1."""

    event_type: Literal["SupportPlanReviewed"] = "SupportPlanReviewed"
    outcomes_added: list[Outcome] = Field(default_factory=list, max_length=len(Outcome))
    results: dict[Outcome, OutcomeResult] = Field(default_factory=dict)
    independence: Independence | None = None

    _once = field_validator("outcomes_added")(_each_once)


class DepartureOutcomesRecorded(EpisodeFacts):
    """The outcomes at departure: a result for every outcome the plan needed. `occurred_at` is the day the episode
    ended; `departure_event_id` the placement event that ended it."""

    event_type: Literal["DepartureOutcomesRecorded"] = "DepartureOutcomesRecorded"
    departure_event_id: UUID
    results: dict[Outcome, OutcomeResult]
    independence: Independence | None = None


EVENTS: list[type[Event]] = [SupportPlanAgreed, SupportPlanReviewed, DepartureOutcomesRecorded]
