"""Referrals: the referral service's event-sourced application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID, uuid4

from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.vocabulary import Cohort, Flag, Gateway, PresentingReason
from shared.eventstore import ServiceApplication

from services.referral.domain import Case


class Referrals(ServiceApplication):
    """Records what happens to young people's cases."""

    aggregate_class = Case

    def make_referral(
        self,
        context: EventContext,
        *,
        district: str,
        gateway: Gateway,
        cohort: Cohort,
        date_of_birth: date,
        presenting_reason: PresentingReason,
        flags: list[Flag],
        occurred_at: datetime,
        person_ref: UUID | None = None,
    ) -> tuple[UUID, UUID, int]:
        """Open a case for a referral; returns (case_id, person_ref, position)."""
        case = Case.make_referral(
            person_ref=person_ref or uuid4(),
            district=district,
            gateway=gateway,
            cohort=cohort,
            date_of_birth=date_of_birth,
            presenting_reason=presenting_reason,
            flags=flags,
            occurred_at=occurred_at,
            now=utc_now(),
        )
        position = self.record(context, case)
        return case.id, case.person_ref, position

    def change_case(self, context: EventContext, case_id: UUID, change: Callable[..., None], **facts) -> int:
        """Load a case, apply one change (a Case method taking `now`), save it; returns the position."""
        case = self.get_case(case_id)
        change(case, now=utc_now(), **facts)
        return self.record(context, case)

    def get_case(self, case_id: UUID) -> Case:
        case = self.load(case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        return case


class CaseNotFound(LookupError):
    """No case has that id."""
