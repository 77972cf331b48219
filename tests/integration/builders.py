"""Small builders for integration tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from services.referral.application import Referrals
from services.referral.vault import YoungPerson
from shared.contracts import EventContext
from shared.contracts.vocabulary import Cohort, Gateway, PresentingReason
from shared.eventstore import postgres_env


def referrals_store(database_url: str, schema: str) -> Referrals:
    return Referrals(env=postgres_env(database_url, schema, lock_timeout_seconds=5))


def make_referral(store: Referrals, district: str = "preston", actor: str = "test") -> tuple:
    """Make a referral of a new young person; returns (case_id, person_ref, position)."""
    case, position = store.make_referral(
        EventContext(actor=actor),
        district=district,
        gateway=Gateway.district_housing_options,
        cohort=Cohort.homeless_16_17,
        young_person=YoungPerson(given_name=f"Sam{uuid4().hex[:8]}", family_name=f"Test{uuid4().hex[:8]}",
                                 date_of_birth=date(2009, 3, 14)),
        presenting_reason=PresentingReason.parental_eviction,
        flags=[],
        occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )
    return case.id, case.person_ref, position
