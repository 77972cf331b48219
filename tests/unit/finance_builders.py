"""Builders for the finance tests (no tests here): each gives a valid default and takes only what a test changes.

Days are counted back from TODAY, fixed once, so nothing is refused as dated in the future and a test that runs
over midnight sees the same days throughout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.finance.application import Finance
from services.finance.domain import Contract, IndividualServiceFund
from shared.contracts import Event, EventContext
from shared.contracts.finance import FundingShare, FundingStream, Package, PriceBasis, Procurement
from shared.contracts.outcomes import ServiceType
from shared.eventstore import IN_MEMORY_ENV

NOW = datetime.now(UTC)
TODAY = NOW.date()
CONTEXT = EventContext(actor="commissioner-1")
PACKAGE = Package(rent=12_000, service_charge=3_000, support=25_000)
"""£120 rent, £30 service charge and £250 support a unit a week."""
LEAVING_CARE = FundingStream.leaving_care
HOUSING_BENEFIT = FundingStream.housing_benefit
SUPPORTING_PEOPLE = FundingStream.housing_related_support


def days_ago(days: int, hour: int = 10) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def day(days_from_today: int) -> date:
    """TODAY plus (or, negative, minus) some days."""
    return TODAY + timedelta(days=days_from_today)


def shares(**basis_points: int) -> list[FundingShare]:
    """Funding shares by stream name: shares(leaving_care=6_000, housing_benefit=4_000)."""
    return [FundingShare(stream=FundingStream(stream), share=share) for stream, share in basis_points.items()]


ALL_LEAVING_CARE = shares(leaving_care=10_000)


def contract_terms(**overrides: Any) -> dict[str, Any]:
    """A spot contract in Preston for one scheme, from 200 days ago for two years, agreed 210 days ago."""
    terms: dict[str, Any] = {
        "provider_id": uuid4(), "name": "Supported lodgings", "procurement": Procurement.spot,
        "service_type": ServiceType.short_term, "scheme_ids": [uuid4()], "starts_on": day(-200),
        "ends_on": day(-200 + 729), "contracted_units": None, "basis": PriceBasis.per_unit_week, "package": PACKAGE,
        "funding": ALL_LEAVING_CARE, "payment_by_results": None, "district": "preston",
        "occurred_at": days_ago(210)}
    return terms | overrides


def agreed(store: Finance, **overrides: Any) -> Contract:
    contract, _ = store.agree_contract(CONTEXT, **contract_terms(**overrides))
    return contract


def fund_terms(**overrides: Any) -> dict[str, Any]:
    """A £1,000 fund for a young person in Preston, from 100 days ago to 100 days ahead, agreed 100 days ago."""
    terms: dict[str, Any] = {"case_id": uuid4(), "person_ref": uuid4(), "district": "preston", "amount": 100_000,
                             "stream": LEAVING_CARE, "starts_on": day(-100), "ends_on": day(100),
                             "occurred_at": days_ago(100)}
    return terms | overrides


def a_fund(store: Finance, **overrides: Any) -> IndividualServiceFund:
    fund, _ = store.agree_fund(CONTEXT, **fund_terms(**overrides))
    return fund


def in_memory_finance() -> Finance:
    return Finance(env=IN_MEMORY_ENV)


def events_of(store: Finance, aggregate_id: UUID) -> list[Event]:
    return list(store.events.get(aggregate_id))


def every_event(store: Finance) -> list[Event]:
    """Every event in the store, in the order saved."""
    return [store.mapper.to_domain_event(n) for n in store.recorder.select_notifications(1, 10_000)]  # type: ignore[arg-type]
