"""The finance read models and reports on real PostgreSQL, built from events: stays from placement events, contracts
and their price changes, budgets, and outcomes achieved. Accrual across a price change, block against spot and its
voids, funding splits, payment by results held back then released, unfunded nights shown, spend by stream, unit
cost, and the forecast table."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import asyncpg
import pytest

from services.finance import reports
from services.finance.projections.contracts import Contracts, OutcomeResults
from services.finance.projections.stays import Stays
from shared.contracts import Event
from shared.contracts.finance import (
    NO_CASE,
    BudgetSet,
    ContractAgreed,
    ContractPriceChanged,
    FundingShare,
    IndividualServiceFundAgreed,
    IndividualServiceFundSpent,
    Package,
    PaymentByResults,
    Procurement,
)
from shared.contracts.outcomes import Outcome, OutcomeResult, ServiceType
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.projections import Recorded, prepare_projection
from tests.integration.outcomes_events import APlan, AScheme, AStay

HOSTEL_WEEK = Package(rent=14_000, service_charge=3_500, support=10_500)  # £280 a week: £40 a night
HRS_ONLY = [FundingShare(stream="housing_related_support", share=10_000)]


class Books:
    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool, self.schema, self.sequence = pool, schema, 0
        self.projections = [Stays(), Contracts(), OutcomeResults()]

    async def prepare(self) -> Books:
        async with self.pool.acquire() as conn:
            for projection in self.projections:
                await prepare_projection(conn, self.schema, projection)
        return self

    async def apply(self, *events: Event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            for event in events:
                self.sequence += 1
                recorded = Recorded(event, "X", self.sequence, self.sequence)
                for projection in self.projections:
                    if event.event_type in projection.follows.get(event.service, ()):
                        await projection.apply(conn, [recorded])

    async def ledger(self, first: date, last: date) -> reports.Ledger:
        async with self.pool.acquire() as conn:
            return await reports.ledger(conn, first, last, schema=self.schema)

    async def forecast(self, year: int, today: date) -> dict:
        async with self.pool.acquire() as conn:
            return await reports.forecast(conn, year, today, schema=self.schema)


@pytest.fixture
async def books(pool, schema) -> Books:
    return await Books(pool, schema).prepare()


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def contract(scheme: AScheme, procurement: Procurement = Procurement.spot, *, starts_on: date = date(2013, 4, 1),
             units: int | None = None, package: Package = HOSTEL_WEEK, funding=None, pbr=None,
             service_type: ServiceType = ServiceType.short_term) -> ContractAgreed:
    contract_id = uuid4()
    return ContractAgreed(
        aggregate_id=contract_id, aggregate_version=1, case_id=NO_CASE, person_ref=NO_CASE, district="maidstone",
        occurred_at=at(starts_on), contract_id=contract_id, provider_id=scheme.provider_id, name="A contract",
        procurement=procurement, service_type=service_type, scheme_ids=[scheme.scheme_id], starts_on=starts_on,
        contracted_units=units, package=package, funding=funding or HRS_ONLY, payment_by_results=pbr)


def price_change(agreed: ContractAgreed, day: date, package: Package) -> ContractPriceChanged:
    return ContractPriceChanged(aggregate_id=agreed.contract_id, aggregate_version=2, case_id=NO_CASE,
                                person_ref=NO_CASE, district="maidstone", occurred_at=at(day),
                                contract_id=agreed.contract_id, effective_from=day, package=package)


async def test_a_stay_accrues_at_the_price_in_force_each_night(books):
    hostel = AScheme()
    agreed = contract(hostel)
    stay = AStay(hostel)
    await books.apply(agreed, price_change(agreed, date(2013, 5, 11), Package(rent=14_000, support=14_000)),
                      stay.started(date(2013, 5, 1)), stay.ended(date(2013, 5, 21), Destination.private_rented,
                                                                 planned=True, days=20))
    book = await books.ledger(date(2013, 5, 1), date(2013, 5, 31))

    costs = reports.costs(book)
    # 10 nights at £280/week (£40) and 10 at £280/week with no service charge and more support (£40)
    assert costs.pence == 10 * 4_000 + 10 * 4_000
    assert (costs.rent, costs.service_charge, costs.support) == (40_000, 5_000, 35_000)


async def test_a_block_costs_its_value_whatever_the_occupancy_and_shows_its_voids(books):
    block_scheme, spot_scheme = AScheme(), AScheme(ProvisionType.foyer)
    block = contract(block_scheme, Procurement.block_gross, units=2)
    spot = contract(spot_scheme)
    stays = [AStay(block_scheme), AStay(spot_scheme)]
    await books.apply(block, spot, *(s.started(date(2013, 6, 1)) for s in stays),
                      *(s.ended(date(2013, 6, 8), Destination.social_rented, planned=True, days=7) for s in stays))
    book = await books.ledger(date(2013, 6, 1), date(2013, 6, 30))

    [voids] = reports.block_costs(book)
    assert (voids.contracted_unit_days, voids.occupied_unit_days, voids.void_unit_days) == (60, 7, 53)
    assert voids.contract_value == 60 * 4_000 and voids.void_cost == 53 * 4_000
    by_contract = {row["contract"]: row["pence"] for row in reports.costs(book, by="contract").rows}
    assert by_contract == {str(block.contract_id): 7 * 4_000, str(spot.contract_id): 7 * 4_000}


async def test_funding_splits_and_spend_by_stream_include_block_voids(books):
    scheme = AScheme()
    shares = [FundingShare(stream="leaving_care", share=6_000), FundingShare(stream="housing_benefit", share=4_000)]
    block = contract(scheme, Procurement.block_gross, units=1, funding=shares,
                     package=Package(rent=7_001, support=0))  # 1000.142.. pence a night: odd pence to split
    stay = AStay(scheme)
    await books.apply(block, stay.started(date(2013, 7, 1)),
                      stay.ended(date(2013, 7, 4), Destination.social_rented, planned=True, days=3))
    book = await books.ledger(date(2013, 7, 1), date(2013, 7, 10))

    cost = reports.costs(book)
    streams = {row["stream"]: row["pence"] for row in reports.costs(book, by="stream").rows}
    assert sum(streams.values()) == cost.pence == 3_000
    assert streams == {"housing_benefit": 1_200, "leaving_care": 1_800}
    spend = reports.spend_by_stream(book)
    [voids] = reports.block_costs(book)
    assert sum(spend.values()) == cost.pence + voids.void_cost == voids.contract_value


async def test_payment_by_results_is_held_back_until_the_outcome_is_achieved(books):
    scheme = AScheme()
    agreed = contract(scheme, pbr=PaymentByResults(share=2_000, outcome=Outcome.secure_settled_accommodation))
    stay = AStay(scheme)
    started = stay.started(date(2013, 8, 1))
    ended = stay.ended(date(2013, 8, 8), Destination.social_rented, planned=True, days=7)
    await books.apply(agreed, started, ended)
    before = reports.costs(await books.ledger(date(2013, 8, 1), date(2013, 8, 31)))
    plan = APlan(started)
    await books.apply(plan.departed(ended, {Outcome.secure_settled_accommodation: OutcomeResult.achieved}))
    after = reports.costs(await books.ledger(date(2013, 8, 1), date(2013, 8, 31)))

    assert before.support == 7 * 1_500 and before.held_back == 7 * 1_500 // 5
    assert after.held_back == 0 and after.pence == before.pence


async def test_a_stay_no_contract_covers_is_shown_unfunded_never_costed_at_zero_silently(books):
    scheme = AScheme()
    stay = AStay(scheme)
    started = stay.started(date(2013, 9, 1))
    await books.apply(started, stay.ended(date(2013, 9, 6), Destination.friends_or_family, planned=True, days=5))
    book = await books.ledger(date(2013, 9, 1), date(2013, 9, 30))

    assert reports.costs(book).unfunded_nights == 5
    assert reports.unfunded_stays(book) == [{
        "stay_id": str(started.event_id), "scheme_id": str(scheme.scheme_id),
        "provision_type": scheme.provision_type.value, "district": "maidstone", "case_id": str(stay.case_id),
        "unfunded_nights": 5}]


async def test_the_forecast_table_is_actual_to_date_plus_committed_to_the_year_end(books):
    hostel, foyer = AScheme(), AScheme(ProvisionType.foyer)
    block = contract(hostel, Procurement.block_gross, units=1, package=Package(rent=7_000))  # £10 a night
    spot = contract(foyer, package=Package(support=3_500))  # £5 a night
    live, ended = AStay(foyer), AStay(foyer)
    budget_id = uuid4()
    budget = BudgetSet(aggregate_id=budget_id, aggregate_version=1, case_id=NO_CASE, person_ref=NO_CASE,
                       district="maidstone", occurred_at=at(date(2013, 4, 1)), budget_id=budget_id,
                       financial_year=2013, service_type=ServiceType.short_term, amount=500_000, capacity_units=2)
    await books.apply(block, spot, budget, live.started(date(2014, 3, 1)), ended.started(date(2014, 3, 1)),
                      ended.ended(date(2014, 3, 11), Destination.social_rented, planned=True, days=10))
    table = await books.forecast(2013, today=date(2014, 3, 20))

    [row] = table["rows"]
    assert row["service_type"] == "short_term" and row["budget"] == 500_000
    block_year, spot_to_date, spot_to_come = 365 * 1_000, (20 + 10) * 500, 11 * 500  # 1-20 Mar live, 1-10 ended
    assert row["actual_to_date"] == (354 * 1_000) + spot_to_date
    assert row["committed"] == 11 * 1_000 + spot_to_come
    assert row["forecast"] == block_year + spot_to_date + spot_to_come
    assert row["variance"] == row["forecast"] - 500_000
    assert row["usage_percent"] == 0.0 and row["capacity_units"] == 2
    assert table["total"]["forecast"] == row["forecast"]


async def test_an_individual_service_fund_is_spent_against_and_shows_in_spend_and_the_forecast(books):
    fund_id, case_id, person_ref = uuid4(), uuid4(), uuid4()
    envelope = {"aggregate_id": fund_id, "case_id": case_id, "person_ref": person_ref, "district": "maidstone"}
    agreed = IndividualServiceFundAgreed(**envelope, aggregate_version=1, occurred_at=at(date(2013, 5, 1)),
                                         fund_id=fund_id, amount=100_000, stream="leaving_care",
                                         starts_on=date(2013, 5, 1), ends_on=date(2014, 4, 30))
    spent = IndividualServiceFundSpent(**envelope, aggregate_version=2, occurred_at=at(date(2013, 6, 2)),
                                       fund_id=fund_id, amount=30_000, spent_on=date(2013, 6, 2),
                                       purpose="education_or_training")
    await books.apply(agreed, spent)

    spend = reports.spend_by_stream(await books.ledger(date(2013, 6, 1), date(2013, 6, 30)))
    table = await books.forecast(2013, today=date(2013, 9, 30))

    assert spend == {"leaving_care": 30_000}
    [row] = table["rows"]
    assert (row["service_type"], row["actual_to_date"], row["committed"], row["forecast"]) == (
        "individual_service_funds", 30_000, 70_000, 100_000)
