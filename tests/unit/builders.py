"""Small builders for unit-test data: each gives a valid default and takes only what a test changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.referral.application import Referrals
from services.referral.domain import Case
from services.referral.vault import YoungPerson
from shared.contracts import EventContext
from shared.contracts.referral import ReferralMade
from shared.contracts.vocabulary import Cohort, Flag, Gateway, LegalStatus, PresentingReason
from shared.eventstore import postgres_env

REFERRAL_DAY = date(2024, 3, 15)
"""The day most test referrals are made: well in the past, so never refused as dated in the future."""


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def born(years_old: int, on: date = REFERRAL_DAY) -> date:
    """A date of birth whose `years_old`th birthday is the day `on`."""
    return on.replace(year=on.year - years_old)


def days_after(day: date, days: int) -> date:
    return day + timedelta(days=days)


def a_referral(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments of `Referrals.make_referral`: a 20-year-old care leaver in Preston."""
    fields: dict[str, Any] = {
        "district": "preston",
        "gateway": Gateway.leaving_care_team,
        "cohort": Cohort.care_leaver,
        "date_of_birth": born(20),
        "presenting_reason": PresentingReason.leaving_care,
        "flags": [Flag.neet],
        "occurred_at": at(REFERRAL_DAY),
    }
    return fields | overrides


def a_case(now: datetime | None = None, person_ref: UUID | None = None, **overrides: Any) -> Case:
    """A Case opened by `Case.make_referral`, with its ReferralMade still pending."""
    return Case.make_referral(
        person_ref=person_ref or uuid4(),
        now=now or at(REFERRAL_DAY, hour=18),
        **a_referral(**overrides),
    )


def a_young_person(**overrides: Any) -> YoungPerson:
    """Personal details with a name of their own, so no two built people are taken for the same one."""
    fields: dict[str, Any] = {
        "given_name": f"Jo{uuid4().hex[:8]}",
        "family_name": f"Bloggs{uuid4().hex[:8]}",
        "date_of_birth": born(20),
        "phone": "07700 900456",
        "email": "jo@example.org",
        "address": "1 Example Street, Preston",
    }
    return YoungPerson(**(fields | overrides))


def a_referral_request(young_person: YoungPerson | None = None, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of `Referrals.make_referral` for `a_referral`."""
    fields = a_referral(**overrides)
    date_of_birth = fields.pop("date_of_birth")
    return fields | {"young_person": young_person or a_young_person(date_of_birth=date_of_birth)}


def a_referral_body(**overrides: Any) -> dict[str, Any]:
    """The JSON body of POST /referrals for `a_referral`; `date_of_birth` goes into the young person."""
    person = a_young_person(date_of_birth=overrides.pop("date_of_birth", born(20))).model_dump(mode="json")
    body = {
        key: (value.isoformat() if isinstance(value, (date, datetime)) else value)
        for key, value in a_referral().items() if key != "date_of_birth"
    }
    return body | {"young_person": person} | overrides


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != field}


def a_context(**overrides: Any) -> EventContext:
    return EventContext(**({"actor": "worker-17"} | overrides))


def an_envelope(**overrides: Any) -> dict[str, Any]:
    """The fields every event carries that have no default: the first event of a new case."""
    case_id = uuid4()
    fields: dict[str, Any] = {
        "aggregate_id": case_id,
        "aggregate_version": 1,
        "case_id": case_id,
        "person_ref": uuid4(),
        "district": "preston",
        "occurred_at": at(REFERRAL_DAY),
    }
    return fields | overrides


def a_referral_made(**overrides: Any) -> ReferralMade:
    fields: dict[str, Any] = an_envelope() | {
        "gateway": Gateway.hub,
        "cohort": Cohort.care_leaver,
        "legal_status": LegalStatus.former_relevant,
        "age_at_event": 20,
        "presenting_reason": PresentingReason.other,
    }
    return ReferralMade(**(fields | overrides))


def referrals(database_url: str, schema: str) -> Referrals:
    """The referral service's application on PostgreSQL (its person vault needs it), in a schema of its own."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return Referrals(env=postgres_env(database_url, schema, lock_timeout_seconds=5))
