"""One case's referral events, built in order with the envelope each would carry (for projection tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from shared.contracts import Event
from shared.contracts.referral import (
    STATUS_ASSUMED_FOR_COHORT,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    DutyEnded,
    DutyStarted,
    EligibilityDecided,
    MediationConcluded,
    PanelDecisionMade,
    ReferralMade,
    ReturnHomeFollowedUp,
)
from shared.contracts.vocabulary import (
    ClosureReason,
    Cohort,
    Duty,
    DutyEndReason,
    Gateway,
    LegalStatus,
    Level,
    MediationOutcome,
    PanelDecision,
    PresentingReason,
    PriorityBand,
)

TODAY = date(2026, 5, 1)


def on(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def days_ago(days: int, hour: int = 10) -> datetime:
    return on(TODAY - timedelta(days=days), hour)



@dataclass
class ACase:
    """Builds one case's events in order, each with the envelope it would carry."""

    district: str = "preston"
    case_id: UUID = field(default_factory=uuid4)
    person_ref: UUID = field(default_factory=uuid4)
    version: int = 0

    def _event(self, event_class: type[Event], occurred_at: datetime, **facts) -> Event:
        self.version += 1
        return event_class(aggregate_id=self.case_id, aggregate_version=self.version, case_id=self.case_id,
                           person_ref=self.person_ref, district=self.district, occurred_at=occurred_at, **facts)

    def referred(self, at: datetime = days_ago(90)) -> ReferralMade:
        return self._event(ReferralMade, at, gateway=Gateway.hub, cohort=Cohort.care_leaver, age_at_event=19,
                           legal_status=LegalStatus.former_relevant,
                           presenting_reason=PresentingReason.leaving_care)

    def eligible(self, at: datetime) -> EligibilityDecided:
        return self._event(EligibilityDecided, at, eligible=True)

    def ineligible(self, at: datetime) -> EligibilityDecided:
        return self._event(EligibilityDecided, at, eligible=False)

    def duty_started(self, at: datetime, duty: Duty) -> DutyStarted:
        return self._event(DutyStarted, at, duty=duty)

    def duty_ended(self, at: datetime, duty: Duty, reason: DutyEndReason) -> DutyEnded:
        return self._event(DutyEnded, at, duty=duty, reason=reason)

    def mediation_concluded(self, at: datetime, attempt: int, outcome: MediationOutcome) -> MediationConcluded:
        return self._event(MediationConcluded, at, attempt=attempt, outcome=outcome)

    def followed_up(self, at: datetime, attempt: int, months_after: int, still_at_home: bool) -> ReturnHomeFollowedUp:
        return self._event(ReturnHomeFollowedUp, at, attempt=attempt, months_after=months_after,
                           still_at_home=still_at_home)

    def assessed(self, at: datetime, band: PriorityBand = PriorityBand.a,
                 level: Level = Level.high) -> AssessmentCompleted:
        return self._event(AssessmentCompleted, at, support_needs=[], support_level=level, risk=Level.medium,
                           priority_band=band)

    def decided(self, at: datetime, decision: PanelDecision) -> PanelDecisionMade:
        return self._event(PanelDecisionMade, at, decision=decision, panel_date=at.date())

    def closed(self, at: datetime) -> CaseClosed:
        return self._event(CaseClosed, at, reason=ClosureReason.moved_on)

    def reopened(self, at: datetime, cohort: Cohort = Cohort.care_leaver) -> CaseReopened:
        return self._event(CaseReopened, at, presenting_reason=PresentingReason.loss_of_tenancy,
                           cohort=cohort, legal_status=STATUS_ASSUMED_FOR_COHORT[cohort], age_at_event=19)
