"""Small builders for integration tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.contracts import EventContext
from shared.contracts.vocabulary import Cohort, Gateway, PresentingReason
from shared.eventstore import postgres_env
from services.referral.application import Referrals


def referrals_store(database_url: str, schema: str) -> Referrals:
    return Referrals(env=postgres_env(database_url, schema, lock_timeout_seconds=5))


def make_referral(store: Referrals, district: str = "preston", actor: str = "test") -> tuple:
    return store.make_referral(
        EventContext(actor=actor),
        district=district,
        gateway=Gateway.district_housing_options,
        cohort=Cohort.homeless_16_17,
        date_of_birth=date(2009, 3, 14),
        presenting_reason=PresentingReason.parental_eviction,
        flags=[],
        occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )
