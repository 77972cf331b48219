"""What district housing systems send casetrack over NATS, and what casetrack answers.

A district publishes JSON on `casetrack.ingest.<district>.<kind>`; `kind` picks the message model
below. Every message names the district's own case reference (`district_ref`) and a `message_id`
unique within the district: a repeat of either is applied once. casetrack answers each message on
`casetrack.accepted.<district>` or `casetrack.rejected.<district>` (with every reason).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.contracts.envelope import Day, Moment
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Duty,
    DutyEndReason,
    Flag,
    Gateway,
    LegalStatus,
    Level,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
    SafeguardingFlag,
    StatusChangeReason,
    SupportNeed,
)


class YoungPerson(BaseModel):
    """Who the young person is: personal data, kept sealed in the referral service's vault only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: Day
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=500)

    @field_validator("given_name", "family_name")
    @classmethod
    def _has_letters(cls, value: str) -> str:
        if not any(ch.isalpha() for ch in value):
            raise ValueError("must contain letters")
        return value


class Dated(BaseModel):
    """A change to a case, as a case worker or a district system states it: when it happened, and its facts.

    The same facts arrive over HTTP (the referral API) and over NATS (district messages)."""

    model_config = ConfigDict(extra="forbid")

    occurred_at: Moment = Field(description="When it happened (timezone-aware)")


class ReferralFacts(Dated):
    """A young person presented through a gateway: their case opens."""

    gateway: Gateway
    cohort: Cohort
    young_person: YoungPerson = Field(
        description="Who the young person is: kept sealed in the person vault, never leaves the referral service")
    presenting_reason: PresentingReason
    flags: list[Flag] = Field(default_factory=list)
    legal_status: LegalStatus | None = Field(
        default=None, description="The legal status on the day of the referral; by default the one the cohort "
                                  "implies at the young person's age (a care leaver: relevant at 16/17, former "
                                  "relevant from 18)")


class EligibilityFacts(Dated):
    """The housing authority's eligibility decision; if eligible the 56-day prevention duty starts."""

    eligible: bool


class MediationStartFacts(Dated):
    """A family mediation attempt starts."""


class MediationOutcomeFacts(Dated):
    """The mediation attempt in progress ends."""

    outcome: MediationOutcome


class AssessmentFacts(Dated):
    """The shared needs-and-risk assessment."""

    support_needs: list[SupportNeed] = Field(default_factory=list)
    support_level: Level
    risk: Level
    priority_band: PriorityBand


class PanelDecisionFacts(Dated):
    """The multi-agency panel's decision."""

    decision: PanelDecision
    panel_date: Day
    emergency_placement_reported: bool = False


class ClosureFacts(Dated):
    """The case closes."""

    reason: ClosureReason


class ReopeningFacts(Dated):
    """The same young person referred again on a closed case."""

    presenting_reason: PresentingReason
    cohort: Cohort
    young_person: YoungPerson | None = Field(
        default=None, description="Only if the details changed or were erased; otherwise the vault's are used")
    legal_status: LegalStatus | None = Field(
        default=None, description="The legal status on the day of the re-referral; by default the one the cohort "
                                  "implies at the young person's age")


class LegalStatusFacts(Dated):
    """The young person's legal status changes from `occurred_at` on (e.g. accommodated under section 20 after a
    Southwark assessment; became eligible; left care; a correction)."""

    legal_status: LegalStatus
    reason: StatusChangeReason
    cohort: Cohort | None = Field(
        default=None, description="The cohort from that day; by default the current one if the status allows it, "
                                  "else the one the status implies at the young person's age")


class FlagFacts(Dated):
    """A flag starts to apply. A safeguarding flag (exploitation, missing_episodes, marac, mappa, risk_to_others)
    is restricted: which one it is never leaves the referral service."""

    flag: Flag | SafeguardingFlag
    dependants: int | None = Field(default=None, ge=1, le=20, description="teenage_parent only: how many children")


class FlagEndingFacts(Dated):
    """A flag (or a safeguarding flag) stops applying."""

    flag: Flag | SafeguardingFlag


# -- homelessness duties and mediation follow-up ------------------------------------------------------------


class DutyStartFacts(Dated):
    """A homelessness duty is owed from `occurred_at`: prevention (s195), relief (s189B) or main (s193)."""

    duty: Duty


class DutyEndFacts(Dated):
    """The duty running on the case ended, and why."""

    duty: Duty
    reason: DutyEndReason


class ReturnHomeFollowUpFacts(Dated):
    """3 or 6 months after a mediation attempt ended with a return home: is the young person still at home?"""

    attempt: int = Field(ge=1, le=1000, description="The mediation attempt that ended with the return home")
    months_after: Literal[3, 6]
    still_at_home: bool


class DistrictMessage(BaseModel):
    """What every district message carries besides its facts."""

    model_config = ConfigDict(extra="forbid")

    district_ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                              description="The district system's own reference for the case")
    message_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                            description="Unique per message within the district; a resend of a message keeps it")


class ReferralReceived(DistrictMessage, ReferralFacts):
    """A young person presented to the district: opens a case (kind `referral`)."""


class EligibilityDecision(DistrictMessage, EligibilityFacts):
    """The housing authority's eligibility decision (kind `eligibility`)."""


class MediationStarted(DistrictMessage, MediationStartFacts):
    """A family mediation attempt started (kind `mediation-attempt`)."""


class MediationEnded(DistrictMessage, MediationOutcomeFacts):
    """The mediation attempt in progress ended (kind `mediation-outcome`)."""


class AssessmentDone(DistrictMessage, AssessmentFacts):
    """The shared needs-and-risk assessment (kind `assessment`)."""


class PanelDecided(DistrictMessage, PanelDecisionFacts):
    """The multi-agency panel's decision (kind `panel-decision`)."""


class CaseClosure(DistrictMessage, ClosureFacts):
    """The district closed the case (kind `closure`)."""


class ReReferral(DistrictMessage, ReopeningFacts):
    """The same young person referred again on a closed case (kind `reopening`)."""


class DutyStartReported(DistrictMessage, DutyStartFacts):
    """A homelessness duty started (kind `duty-start`)."""


class DutyEndReported(DistrictMessage, DutyEndFacts):
    """The running homelessness duty ended (kind `duty-end`)."""


class ReturnHomeFollowUpReported(DistrictMessage, ReturnHomeFollowUpFacts):
    """A return home after mediation was followed up at 3 or 6 months (kind `return-home-follow-up`)."""


class LegalStatusChange(DistrictMessage, LegalStatusFacts):
    """The young person's legal status changed (kind `legal-status`)."""


class FlagStarted(DistrictMessage, FlagFacts):
    """A flag (safeguarding flags included) started to apply (kind `flag-raised`)."""


class FlagStopped(DistrictMessage, FlagEndingFacts):
    """A flag (safeguarding flags included) stopped applying (kind `flag-ended`)."""


MESSAGE_KINDS: dict[str, type[DistrictMessage]] = {
    "referral": ReferralReceived,
    "eligibility": EligibilityDecision,
    "mediation-attempt": MediationStarted,
    "mediation-outcome": MediationEnded,
    "assessment": AssessmentDone,
    "panel-decision": PanelDecided,
    "closure": CaseClosure,
    "reopening": ReReferral,
    # homelessness duties and mediation follow-up
    "duty-start": DutyStartReported,
    "duty-end": DutyEndReported,
    "return-home-follow-up": ReturnHomeFollowUpReported,
    "legal-status": LegalStatusChange,
    "flag-raised": FlagStarted,
    "flag-ended": FlagStopped,
}
"""Subject kind -> the message model a district publishes on `casetrack.ingest.<district>.<kind>`."""


class Reason(BaseModel):
    """One reason a message was refused. Never echoes the values sent (they may be personal data)."""

    field: str | None = Field(description="Dotted path of the field at fault; null for the message as a whole")
    problem: str
    type: str


class MessageRejected(BaseModel):
    """casetrack refused a district message (published on `casetrack.rejected.<district>`)."""

    rejection_id: UUID
    district: str
    kind: str | None
    district_ref: str | None
    message_id: str | None
    reasons: list[Reason]
    stream_sequence: int = Field(description="Where the message sat on CASETRACK_INGEST")
    received_at: AwareDatetime


class MessageAccepted(BaseModel):
    """casetrack applied a district message (published on `casetrack.accepted.<district>`)."""

    district: str
    kind: str
    district_ref: str
    message_id: str
    case_id: UUID
    position: str = Field(description="The referral store position of the change, e.g. referral:12")
    duplicate: bool = Field(description="True if this repeats a message or referral already applied")
    person_linked: bool = Field(default=False, description=(
        "Referrals only: the young person's name and date of birth matched exactly one young person casetrack "
        "already knows, and the case was linked to them (it carries their person_ref)"))
    possible_match: bool = Field(default=False, description=(
        "Referrals only: the young person may be someone casetrack already knows (some details matched): the "
        "case was flagged for a case worker to link or dismiss, and is not linked meanwhile"))
