"""Events recorded by the referral service: a case from presentation to closure."""

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Event
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Duty,
    DutyEndReason,
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
    StatusChangeReason,
    SupportNeed,
)


class ReferralEvent(Event):
    service = "referral"


class ReferralMade(ReferralEvent):
    """A young person was referred through a gateway: their case starts here."""

    event_type: Literal["ReferralMade"] = "ReferralMade"
    schema_version: int = 2
    gateway: Gateway
    cohort: Cohort
    legal_status: LegalStatus = Field(description="The young person's legal status on the day of the referral")
    age_at_event: int = Field(ge=16, le=25)
    flags: list[Flag] = Field(default_factory=list)
    presenting_reason: PresentingReason


class EligibilityDecided(ReferralEvent):
    """The housing authority decided whether the young person is eligible for homelessness assistance. Which
    duty is owed, and from when, is recorded by DutyStarted (schema 1 carried a derived prevention due date)."""

    event_type: Literal["EligibilityDecided"] = "EligibilityDecided"
    schema_version: int = 2
    eligible: bool


class MediationAttempted(ReferralEvent):
    """A family mediation attempt started."""

    event_type: Literal["MediationAttempted"] = "MediationAttempted"
    attempt: int = Field(ge=1)


class MediationConcluded(ReferralEvent):
    """A mediation attempt ended with an outcome."""

    event_type: Literal["MediationConcluded"] = "MediationConcluded"
    attempt: int = Field(ge=1)
    outcome: MediationOutcome


class DutyStarted(ReferralEvent):
    """A homelessness duty began to be owed from `occurred_at`: prevention (s195), relief (s189B) or main (s193)."""

    event_type: Literal["DutyStarted"] = "DutyStarted"
    duty: Duty


class DutyEnded(ReferralEvent):
    """A homelessness duty running on the case ended, with the reason it ended."""

    event_type: Literal["DutyEnded"] = "DutyEnded"
    duty: Duty
    reason: DutyEndReason


class ReturnHomeFollowedUp(ReferralEvent):
    """A young person who returned home after a mediation attempt was followed up 3 or 6 months later: were they
    still at home?"""

    event_type: Literal["ReturnHomeFollowedUp"] = "ReturnHomeFollowedUp"
    attempt: int = Field(ge=1, description="The mediation attempt that ended with the return home")
    months_after: Literal[3, 6]
    still_at_home: bool


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
    schema_version: int = 2
    presenting_reason: PresentingReason
    cohort: Cohort
    legal_status: LegalStatus = Field(description="The young person's legal status on the day of the re-referral")
    age_at_event: int = Field(ge=16, le=25)


class LegalStatusChanged(ReferralEvent):
    """The young person's legal status (and with it, perhaps, their cohort) changed from `occurred_at` on:
    accommodated under section 20 after a Southwark assessment, became eligible, left care, or a correction."""

    event_type: Literal["LegalStatusChanged"] = "LegalStatusChanged"
    legal_status: LegalStatus
    previous_legal_status: LegalStatus
    cohort: Cohort = Field(description="The cohort from this day on")
    reason: StatusChangeReason
    age_at_event: int = Field(ge=16, le=25)


class AgeReached(ReferralEvent):
    """The young person reached an age that changes what counts (18: no longer a child; a relevant child
    becomes former relevant). Dated 00:00 UTC on the first day of the month after the birthday, never the
    birthday itself (its date with its age would be the date of birth); the age is derived from the vault's date
    of birth and published as a fact, never the date of birth itself."""

    event_type: Literal["AgeReached"] = "AgeReached"
    age: int = Field(ge=16, le=26)
    legal_status: LegalStatus = Field(description="The legal status from this event's day on")
    cohort: Cohort = Field(description="The cohort from this event's day on")


class FlagRaised(ReferralEvent):
    """A cross-cutting flag starts to apply to the young person from `occurred_at` (a teenage parent: with how
    many dependants; raised again when that number changes). Flags given with the referral are in ReferralMade."""

    event_type: Literal["FlagRaised"] = "FlagRaised"
    flag: Flag
    dependants: int | None = Field(default=None, ge=1, le=20, description="teenage_parent only: how many children")


class FlagEnded(ReferralEvent):
    """A cross-cutting flag stopped applying from `occurred_at`."""

    event_type: Literal["FlagEnded"] = "FlagEnded"
    flag: Flag


class RestrictedFlagRaised(ReferralEvent):
    """A safeguarding flag was raised on the case from `occurred_at`. Which one stays in the referral service:
    only its id is published."""

    event_type: Literal["RestrictedFlagRaised"] = "RestrictedFlagRaised"
    flag_id: UUID


class RestrictedFlagEnded(ReferralEvent):
    """The restricted (safeguarding) flag `flag_id` stopped applying from `occurred_at`."""

    event_type: Literal["RestrictedFlagEnded"] = "RestrictedFlagEnded"
    flag_id: UUID


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
    DutyStarted,
    DutyEnded,
    ReturnHomeFollowedUp,
    AssessmentCompleted,
    PanelDecisionMade,
    CaseClosed,
    CaseReopened,
    PersonLinked,
    PersonUnlinked,
    PossibleMatchFlagged,
    PossibleMatchDismissed,
    PersonalDataErased,
    LegalStatusChanged,
    AgeReached,
    FlagRaised,
    FlagEnded,
    RestrictedFlagRaised,
    RestrictedFlagEnded,
]

STATUS_ASSUMED_FOR_COHORT: dict[str, str] = {
    "homeless_16_17": LegalStatus.not_looked_after.value,
    "looked_after_16_17": LegalStatus.looked_after_section_20.value,
    "care_leaver": LegalStatus.former_relevant.value,
    "young_person_at_risk": LegalStatus.not_looked_after.value,
}
"""Schema 1 referrals named only a cohort (care leavers were 18+ then): the legal status each implies."""


def with_legal_status_of_cohort(payload: dict) -> dict:
    """ReferralMade and CaseReopened schema 1 -> 2: the legal status the cohort implied."""
    return {**payload, "schema_version": 2, "legal_status": STATUS_ASSUMED_FOR_COHORT[payload["cohort"]]}


def without_prevention_due_date(payload: dict) -> dict:
    """EligibilityDecided schema 1 -> 2: drop `prevention_duty_due_on`, a date schema 1 derived (decision + 56
    days) that the law does not give: the prevention duty may run past 56 days; duties are DutyStarted/DutyEnded."""
    return {**{k: v for k, v in payload.items() if k != "prevention_duty_due_on"}, "schema_version": 2}


UPCASTERS = {
    ("ReferralMade", 1): with_legal_status_of_cohort,
    ("CaseReopened", 1): with_legal_status_of_cohort,
    ("EligibilityDecided", 1): without_prevention_due_date,
}
"""(event_type, schema_version) -> the function lifting a stored payload one version (see shared.contracts)."""
