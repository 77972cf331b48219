"""Events recorded by the referral service: a case from presentation to closure."""

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Event
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Flag,
    Gateway,
    Level,
    LinkBasis,
    MatchedDetail,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    SupportNeed,
)


class ReferralEvent(Event):
    service = "referral"


class ReferralMade(ReferralEvent):
    """A young person was referred through a gateway: their case starts here."""

    event_type: Literal["ReferralMade"] = "ReferralMade"
    gateway: Gateway
    cohort: Cohort
    age_at_event: int = Field(ge=16, le=25)
    flags: list[Flag] = Field(default_factory=list)
    presenting_reason: PresentingReason


class EligibilityDecided(ReferralEvent):
    """The housing authority decided whether the young person is eligible; if so the 56-day prevention duty runs."""

    event_type: Literal["EligibilityDecided"] = "EligibilityDecided"
    eligible: bool
    prevention_duty_due_on: date | None = None


class MediationAttempted(ReferralEvent):
    """A family mediation attempt started."""

    event_type: Literal["MediationAttempted"] = "MediationAttempted"
    attempt: int = Field(ge=1)


class MediationConcluded(ReferralEvent):
    """A mediation attempt ended with an outcome."""

    event_type: Literal["MediationConcluded"] = "MediationConcluded"
    attempt: int = Field(ge=1)
    outcome: MediationOutcome


class AssessmentCompleted(ReferralEvent):
    """The shared needs-and-risk assessment was completed."""

    event_type: Literal["AssessmentCompleted"] = "AssessmentCompleted"
    support_needs: list[SupportNeed]
    support_level: Level
    risk: Level
    priority_band: PriorityBand


class PanelDecisionMade(ReferralEvent):
    """The multi-agency panel decided; an emergency placement made since the last panel is reported to it."""

    event_type: Literal["PanelDecisionMade"] = "PanelDecisionMade"
    decision: PanelDecision
    panel_date: date
    emergency_placement_reported: bool = False


class CaseClosed(ReferralEvent):
    """The case was closed."""

    event_type: Literal["CaseClosed"] = "CaseClosed"
    reason: ClosureReason


class CaseReopened(ReferralEvent):
    """The same young person was referred again: the journey continues on the same case."""

    event_type: Literal["CaseReopened"] = "CaseReopened"
    presenting_reason: PresentingReason
    cohort: Cohort
    age_at_event: int = Field(ge=16, le=25)


class PersonLinked(ReferralEvent):
    """The case's young person is a person already known: from now on the case carries their person_ref."""

    event_type: Literal["PersonLinked"] = "PersonLinked"
    previous_person_ref: UUID
    basis: LinkBasis


class PersonUnlinked(ReferralEvent):
    """A link was undone: the case's young person is a person of their own again (the envelope's person_ref)."""

    event_type: Literal["PersonUnlinked"] = "PersonUnlinked"
    unlinked_from: UUID


class PossibleMatchFlagged(ReferralEvent):
    """The young person may be a person already known, but the match is uncertain: a person must decide."""

    event_type: Literal["PossibleMatchFlagged"] = "PossibleMatchFlagged"
    candidate_person_ref: UUID
    matched_on: list[MatchedDetail]


class PossibleMatchDismissed(ReferralEvent):
    """A case worker decided the flagged person is someone else."""

    event_type: Literal["PossibleMatchDismissed"] = "PossibleMatchDismissed"
    candidate_person_ref: UUID


class PersonalDataErased(ReferralEvent):
    """The young person's personal details were destroyed; the case's facts and shape remain."""

    event_type: Literal["PersonalDataErased"] = "PersonalDataErased"


EVENTS: list[type[Event]] = [
    ReferralMade,
    EligibilityDecided,
    MediationAttempted,
    MediationConcluded,
    AssessmentCompleted,
    PanelDecisionMade,
    CaseClosed,
    CaseReopened,
    PersonLinked,
    PersonUnlinked,
    PossibleMatchFlagged,
    PossibleMatchDismissed,
    PersonalDataErased,
]
