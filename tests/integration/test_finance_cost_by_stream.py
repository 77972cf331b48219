"""Cost by funding stream as published, on real PostgreSQL: stays and contracts built from events into the finance
read models, the cost run's stay-months recorded as `CostAccrued` in the finance store, and read back. Summed over
the published events, `cost.by_stream` is what finance's spend-by-stream report says for the same stays, to the
penny (spot contracts only: the report adds block voids and individual service funds, which are no stay's cost)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest

from services.finance import reports
from services.finance.application import Finance
from services.finance.cost_run import months_of
from shared.contracts import EventContext
from shared.contracts.finance import NO_CASE, ContractAgreed, ContractFundingChanged, CostAccrued, FundingShare, Package
from shared.contracts.placement_vocabulary import Destination, ProvisionType
from shared.eventstore import postgres_env
from tests.integration.outcomes_events import AScheme, AStay
from tests.integration.test_finance_reports import Books, at, contract, price_change

ODD_WEEK = Package(rent=14_001, service_charge=3_503, support=10_507)  # 4,001.57.. pence a night
FIRST, LAST = date(2013, 5, 1), date(2013, 6, 30)


def funding_change(agreed: ContractAgreed, day: date, version: int, **basis_points: int) -> ContractFundingChanged:
    return ContractFundingChanged(
        aggregate_id=agreed.contract_id, aggregate_version=version, case_id=NO_CASE, person_ref=NO_CASE,
        district="maidstone", occurred_at=at(day), contract_id=agreed.contract_id, effective_from=day,
        funding=[FundingShare(stream=stream, share=share) for stream, share in basis_points.items()])


@pytest.fixture
async def books(pool, schema) -> Books:
    return await Books(pool, schema).prepare()


@pytest.fixture
def store(postgres, schema, books) -> Finance:
    return Finance(env=postgres_env(postgres.url, schema, lock_timeout_seconds=5))


async def published_costs(books: Books, store: Finance) -> list[CostAccrued]:
    book = await books.ledger(FIRST, LAST)
    await asyncio.to_thread(store.publish_costs, EventContext(actor="test"), months_of(book.accruals()), LAST)
    notifications = store.recorder.select_notifications(1, 10_000, topics=["CostAccrued"])
    return [store.mapper.to_domain_event(notification) for notification in notifications]  # type: ignore[misc]


async def test_the_published_streams_agree_with_spend_by_stream_to_the_penny(books, store):
    hostel, foyer, nightstop = AScheme(), AScheme(ProvisionType.foyer), AScheme(ProvisionType.nightstop)
    sixty_forty = [FundingShare(stream="leaving_care", share=6_000),
                   FundingShare(stream="housing_benefit", share=4_000)]
    hostel_contract = contract(hostel, package=ODD_WEEK, funding=sixty_forty)
    foyer_contract = contract(foyer, package=ODD_WEEK)  # all housing related support
    long_stay, short_stay, moving, unfunded = AStay(hostel), AStay(hostel), AStay(foyer), AStay(nightstop)
    await books.apply(
        hostel_contract, foyer_contract,
        funding_change(hostel_contract, date(2013, 5, 17), 2, leaving_care=3_334, housing_benefit=3_333,
                       youth_offending=3_333),
        price_change(foyer_contract, date(2013, 6, 10), Package(rent=14_003, support=7_001)),
        long_stay.started(date(2013, 5, 3)),  # to the end of June: across the change of shares and both months
        short_stay.started(date(2013, 5, 10)),
        short_stay.ended(date(2013, 5, 23), Destination.private_rented, planned=True, days=13),
        moving.started(date(2013, 5, 20)),
        moving.moved(date(2013, 6, 15), nightstop, planned=True, days=26),  # then unfunded
        unfunded.started(date(2013, 6, 2)))

    events = await published_costs(books, store)
    spend = reports.spend_by_stream(await books.ledger(FIRST, LAST))

    published: Counter[str] = Counter()
    for event in events:
        assert sum(event.cost.by_stream.values()) == event.cost.whole or not event.cost.by_stream
        published.update({stream.value: pence for stream, pence in event.cost.by_stream.items()})
    assert dict(published) == spend
    assert set(spend) == {"leaving_care", "housing_benefit", "youth_offending", "housing_related_support"}
    assert sum(spend.values()) == sum(event.cost.whole for event in events) > 0
    unfunded_months = [event for event in events if event.contract_id is None]
    assert len(unfunded_months) == 2  # the nightstop stays in June: the move and the stay begun there
    assert all(event.cost.whole == 0 and event.cost.by_stream == {} for event in unfunded_months)


async def test_a_second_run_publishes_no_stream_split_twice(books, store):
    hostel = AScheme()
    agreed = contract(hostel, package=ODD_WEEK)
    stay = AStay(hostel)
    await books.apply(agreed, stay.started(date(2013, 5, 3)))

    first = await published_costs(books, store)
    again = await published_costs(books, store)

    assert len(first) == len(again) == 2
    assert [event.cost.by_stream for event in first] == [event.cost.by_stream for event in again]
